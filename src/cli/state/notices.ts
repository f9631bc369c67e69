import type { RollbackClient } from '../../client';
import { oneLine } from '../../model/text';
import type { NoticeChild } from './history';

/** One channel's outcome of one notice. */
export interface ChannelOutcome {
  channel: string;
  delivered: boolean;
  detail?: string;
}

/** A notice the rollback sent (a child workflow per event) and what became of it on each channel. */
export interface NoticeView {
  n: number;
  event: string;
  workflowId: string;
  /** The child workflow's status: RUNNING while a channel is still being retried. */
  status: string;
  outcomes: ChannelOutcome[];
  /** While running: the attempt it is on and why the last one failed; when it failed: why. */
  note?: string;
}

/** Reads "oncall: not delivered (channel oncall: ...)" as the notify workflow writes it. */
export function parseOutcome(line: string): ChannelOutcome {
  const m = /^(.*?): (delivered|not delivered)(?: \((.*)\))?$/s.exec(line);
  if (!m) return { channel: '?', delivered: false, detail: line };
  return { channel: m[1]!, delivered: m[2] === 'delivered', detail: m[3] };
}

// What a notice workflow records when it keeps the activity's failure rather than its cause.
const WRAPPED_FAILURE = 'Activity task failed';

/** Why each channel's delivery failed, by channel name, from the notice workflow's own history. */
async function deliveryFailures(client: RollbackClient, workflowId: string): Promise<Map<string, string>> {
  const names = new Map<number, string>();
  const failures = new Map<string, string>();
  for (const e of await client.history(workflowId)) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const channel = client.decode<{ channel?: { name?: string; type?: string } }>(
        scheduled.input?.payloads?.[0],
      )?.channel;
      // Channels are delivered in the order of the plan's list, and named as the notify workflow names them.
      names.set(Number(e.eventId), channel?.name ?? `${channel?.type}#${names.size + 1}`);
    }
    const failed = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    const name = failed && names.get(Number(failed.scheduledEventId));
    if (name) failures.set(name, failed.failure?.cause?.message ?? failed.failure?.message ?? 'failed');
  }
  return failures;
}

async function readNotice(client: RollbackClient, child: NoticeChild): Promise<NoticeView> {
  const view: NoticeView = { ...child, status: 'UNKNOWN', outcomes: [] };
  try {
    const desc = await client.describe(child.workflowId);
    view.status = desc.status.name;
    if (view.status === 'COMPLETED') {
      const lines = await client.client.workflow.getHandle(child.workflowId).result();
      view.outcomes = (Array.isArray(lines) ? (lines as unknown[]) : []).map((l) => parseOutcome(String(l)));
      if (view.outcomes.some((o) => o.detail === WRAPPED_FAILURE)) {
        const why = await deliveryFailures(client, child.workflowId);
        for (const o of view.outcomes)
          if (o.detail === WRAPPED_FAILURE) o.detail = why.get(o.channel) ?? o.detail;
      }
    } else if (view.status === 'RUNNING') {
      const p = desc.raw.pendingActivities?.[0];
      view.note = p
        ? `being delivered: attempt ${p.attempt ?? 1}${p.lastFailure?.message ? `, last: ${p.lastFailure.message}` : ''}`
        : 'being delivered';
    } else {
      view.note = `the notice workflow ended ${view.status}`;
    }
  } catch (err) {
    view.note = `not readable: ${(err as Error).message}`;
  }
  return view;
}

/** The outcome of every notice the rollback sent, read from the notice workflows themselves. */
export function readNotices(client: RollbackClient, children: NoticeChild[]): Promise<NoticeView[]> {
  return Promise.all(children.map((c) => readNotice(client, c)));
}

/** Notices as status lines: one per channel, so an undelivered one stands out. */
export function formatNotices(notices: NoticeView[]): string[] {
  if (notices.length === 0) return [];
  const lines = ['  notices:'];
  for (const n of notices) {
    for (const o of n.outcomes) {
      const detail = o.detail ? ` (${oneLine(o.detail)})` : '';
      lines.push(
        `    ${o.delivered ? '✔' : '✘'} ${n.event} → ${oneLine(o.channel)}: ${o.delivered ? 'delivered' : 'not delivered'}${detail}`,
      );
    }
    if (n.note) lines.push(`    ${n.status === 'RUNNING' ? '…' : '✘'} ${n.event}: ${oneLine(n.note)}`);
  }
  return lines;
}
