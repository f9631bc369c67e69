import type { RollbackEvent } from '../model';

/** One line that says what happened; every channel's message starts from it. */
export function headline(e: RollbackEvent): string {
  const what = `${e.kind} rollback of ${e.target}${e.fromVersion ? ` ${e.fromVersion}` : ''} → ${e.toVersion}`;
  switch (e.type) {
    case 'started':
      return `${what} started by ${e.requestedBy}: ${e.reason}`;
    case 'awaiting-approval':
      return `${what} awaits approval (${e.approvers?.join(', ') ?? 'approvers'}); requested by ${e.requestedBy}: ${e.reason}`;
    case 'approval-escalated':
      return `${what} has waited too long for approval: escalating`;
    case 'approved':
      return `${what} approved by ${e.by}${e.comment ? `: ${e.comment}` : ''}`;
    case 'rejected':
      return `${what} rejected by ${e.by}${e.comment ? `: ${e.comment}` : ''}`;
    case 'step-failed':
      return `${what}: step "${e.step?.title}" failed (${e.step?.error}); awaiting a decision (retry, skip, compensate, abort)`;
    case 'compensated':
      return `${what} failed at "${e.step?.title}" and was undone: the service is back where it was`;
    case 'succeeded':
      return `${what} succeeded`;
    case 'failed':
      return `${what} FAILED${e.step ? ` at "${e.step.title}": ${e.step.error}` : ''}`;
    case 'cancelled':
      return `${what} cancelled; completed steps were undone`;
    case 'aborted':
      return `${what} aborted by ${e.by} at "${e.step?.title}": left as it is`;
  }
}
