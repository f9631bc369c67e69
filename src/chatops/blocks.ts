import { formatFinding, sortFindings } from '../model/analysis';
import { DECISIONS, STEP_MARK, type Plan, type RollbackRecord, type RollbackStatus } from '../model';

/**
 * The one chat message a rollback has: what it is, who asked and why, its steps as they stand, and
 * the buttons that fit its state (Approve / Reject while it awaits approval; Retry / Skip /
 * Compensate / Abort while a failed step waits for a decision; none once it has ended). Pure:
 * built from the workflow's own progress record.
 */

/** Slack's own escaping for text in mrkdwn: people's text cannot become a link or a mention. */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export const ENDED: ReadonlySet<RollbackStatus> = new Set([
  'succeeded',
  'compensated',
  'failed',
  'rejected',
  'cancelled',
  'aborted',
  'refused',
]);

const STATUS_MARK: Partial<Record<RollbackStatus, string>> = {
  succeeded: ':white_check_mark:',
  compensated: ':leftwards_arrow_with_hook:',
  failed: ':x:',
  rejected: ':no_entry:',
  cancelled: ':heavy_minus_sign:',
  aborted: ':octagonal_sign:',
  refused: ':no_entry_sign:',
  'awaiting-approval': ':raised_hand:',
  'awaiting-decision': ':warning:',
};

export const ACTIONS = {
  approve: 'rollback_approve',
  reject: 'rollback_reject',
  decide: 'rollback_decide',
  rejectModal: 'rollback_reject_modal',
} as const;

/** What a button carries: the rollback, its run, and for a decision the step. */
export interface ButtonValue {
  workflowId: string;
  runId: string;
  stepId?: string;
}

type Block = Record<string, unknown>;

const section = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text } });

function button(text: string, actionId: string, value: ButtonValue, style?: 'primary' | 'danger'): Block {
  return {
    type: 'button',
    text: { type: 'plain_text', text },
    action_id: actionId,
    value: JSON.stringify(value),
    ...(style ? { style } : {}),
  };
}

export function rollbackMessage(
  record: RollbackRecord,
  ref: { workflowId: string; runId: string; webUrl?: string },
  plan?: Pick<Plan, 'approval'>,
): { text: string; blocks: Block[] } {
  const mark = STATUS_MARK[record.status] ?? ':arrows_counterclockwise:';
  const headline = `${mark} ${record.kind} rollback of *${esc(record.target)}*${record.fromVersion ? ` from ${esc(record.fromVersion)}` : ''} to ${esc(record.toVersion)}: *${record.status}*`;
  const blocks: Block[] = [
    section(headline),
    section(`Requested by ${esc(record.requestedBy)}: ${esc(record.reason)}`),
    section(
      record.steps
        .map(
          (s) =>
            `${STEP_MARK[s.state]} ${esc(s.title)}${s.state === 'failed' && s.lastError ? ` — ${esc(s.lastError.slice(0, 200))}` : ''}`,
        )
        .join('\n')
        .slice(0, 2900),
    ),
  ];
  const value = { workflowId: ref.workflowId, runId: ref.runId };
  if (record.findings && record.findings.length > 0) {
    blocks.push(
      section(
        `*Pre-flight analysis*\n${sortFindings(record.findings)
          .map((f) => `• ${esc(formatFinding(f))}`)
          .join('\n')
          .slice(0, 2900)}`,
      ),
    );
  }
  if (record.status === 'awaiting-approval') {
    const approval = plan?.approval;
    const approved = record.approvals.filter((a) => a.decision === 'approved').map((a) => a.by);
    blocks.push(
      section(
        `Approvals: ${approved.length}/${approval?.quorum ?? 1}${approved.length ? ` (${approved.map(esc).join(', ')})` : ''}` +
          (approval ? `; approvers: ${approval.approvers.map(esc).join(', ')}` : ''),
      ),
      {
        type: 'actions',
        block_id: 'approval',
        elements: [
          button('Approve', ACTIONS.approve, value, 'primary'),
          button('Reject', ACTIONS.reject, value, 'danger'),
        ],
      },
    );
  }
  const waiting = record.awaitingDecision;
  if (record.status === 'awaiting-decision' && waiting) {
    blocks.push(
      section(
        `*${esc(waiting.title)}* failed: ${esc(waiting.error.slice(0, 500))}\nDefault in ${waiting.timeoutSeconds} s: ${waiting.defaultDecision}`,
      ),
      {
        type: 'actions',
        block_id: 'decision',
        elements: DECISIONS.map((d) =>
          button(
            d[0]!.toUpperCase() + d.slice(1),
            `${ACTIONS.decide}_${d}`,
            { ...value, stepId: waiting.stepId },
            d === 'abort' ? 'danger' : undefined,
          ),
        ),
      },
    );
  }
  if (ref.webUrl)
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `<${ref.webUrl}|Temporal Web UI> · ${esc(ref.workflowId)}` }],
    });
  return { text: `${record.kind} rollback of ${record.target}: ${record.status}`, blocks };
}

/** The modal that asks a rejecter why. */
export function rejectModal(value: ButtonValue & { channel?: string; ts?: string }): Block {
  return {
    type: 'modal',
    callback_id: ACTIONS.rejectModal,
    private_metadata: JSON.stringify(value),
    title: { type: 'plain_text', text: 'Reject the rollback' },
    submit: { type: 'plain_text', text: 'Reject' },
    blocks: [
      {
        type: 'input',
        block_id: 'reason',
        label: { type: 'plain_text', text: 'Why?' },
        element: { type: 'plain_text_input', action_id: 'reason', multiline: true, max_length: 500 },
      },
    ],
  };
}
