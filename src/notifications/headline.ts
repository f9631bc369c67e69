import type { RollbackEvent } from '../model';
import { oneLine } from '../model/text';

/**
 * One line that says what happened; every channel's message starts from it. Whatever the event
 * holds (a reason, a comment, a name, an error) is shown on one line, so it cannot start a line
 * of its own; each channel escapes the rest for its format.
 */
export function headline(e: RollbackEvent): string {
  const t = (value: unknown) => oneLine(String(value ?? ''));
  const what = `${t(e.kind)} rollback of ${t(e.target)}${e.fromVersion ? ` ${t(e.fromVersion)}` : ''} → ${t(e.toVersion)}`;
  const comment = e.comment ? `: ${t(e.comment)}` : '';
  switch (e.type) {
    case 'started':
      return `${what} started by ${t(e.requestedBy)}: ${t(e.reason)}`;
    case 'awaiting-approval':
      return `${what} awaits approval (${Array.isArray(e.approvers) ? e.approvers.map(t).join(', ') : 'approvers'}); requested by ${t(e.requestedBy)}: ${t(e.reason)}`;
    case 'approval-escalated':
      return `${what} has waited too long for approval: escalating`;
    case 'approved':
      return `${what} approved by ${t(e.by)}${comment}`;
    case 'rejected':
      return `${what} rejected by ${t(e.by)}${comment}`;
    case 'step-failed':
      return `${what}: step "${t(e.step?.title)}" failed${e.step?.error ? ` (${t(e.step.error)})` : ''}; awaiting a decision (retry, skip, compensate, abort)`;
    case 'compensated':
      return `${what} failed at "${t(e.step?.title)}" and was undone: the service is back where it was`;
    case 'succeeded':
      return `${what} succeeded`;
    case 'failed':
      return `${what} FAILED${e.step ? ` at "${t(e.step.title)}": ${t(e.step.error)}` : ''}`;
    case 'cancelled':
      return `${what} cancelled; completed steps were undone`;
    case 'aborted':
      return `${what} aborted by ${t(e.by)} at "${t(e.step?.title)}": left as it is`;
    case 'guard-escalated':
      return `guard of ${t(e.target)}: ${t(e.comment)}; it started a rollback within its cool-down already, so it does not start another: look at the service now`;
    case 'guard-proposed':
      return `guard of ${t(e.target)} proposes a ${t(e.kind)} rollback: ${t(e.comment)}; to run it: rollback start ${t(e.kind)} --target ${t(e.target)} --reason "..."`;
    case 'guard-recorded':
      return `guard of ${t(e.target)} (paused or in maintenance) would have acted: ${t(e.comment)}`;
    default:
      // An event type from a newer or older worker: still one line, never a TypeError.
      return `${what}: ${t((e as { type?: unknown }).type)}`;
  }
}
