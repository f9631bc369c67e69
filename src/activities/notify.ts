import type { NotifyChannel } from '../targets/schema';
import type { RollbackEvent } from '../workflows/events';
import { done, permanent, type StepResult } from './common';

const ICON: Record<string, string> = {
  started: ':rewind:',
  'awaiting-approval': ':raised_hand:',
  'approval-escalated': ':rotating_light:',
  approved: ':white_check_mark:',
  rejected: ':no_entry:',
  'step-failed': ':warning:',
  compensated: ':leftwards_arrow_with_hook:',
  succeeded: ':white_check_mark:',
  failed: ':x:',
  cancelled: ':stop_sign:',
  aborted: ':octagonal_sign:',
};

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

function body(channel: NotifyChannel, e: RollbackEvent): unknown {
  const line = headline(e);
  if (channel.type === 'slack') {
    const lines = [`${ICON[e.type] ?? ''} *${line}*`];
    if (e.plan) lines.push(e.plan.map((s, i) => `${i + 1}. ${s}`).join('\n'));
    if (e.webUrl) lines.push(`<${e.webUrl}|Open in the Temporal Web UI>`);
    return { text: lines.join('\n') };
  }
  if (channel.type === 'statuspage') {
    const status =
      e.type === 'succeeded'
        ? 'operational'
        : e.type === 'failed' || e.type === 'aborted'
          ? 'major_outage'
          : 'degraded_performance';
    return {
      component: channel.component ?? e.target,
      status,
      message: line,
      rollbackId: e.rollbackId,
      url: e.webUrl,
    };
  }
  return { ...e, message: line };
}

/**
 * Posts one event to one channel. The URL may come from the worker's environment (webhook URLs
 * are secrets), so errors name the channel, never the URL.
 */
export async function sendNotification(input: {
  channel: NotifyChannel;
  event: RollbackEvent;
}): Promise<StepResult> {
  const { channel, event } = input;
  const name = channel.name ?? channel.type;
  const url = channel.url ?? (channel.urlEnv ? process.env[channel.urlEnv] : undefined);
  if (!url) {
    throw permanent(
      `channel ${name}: environment variable ${channel.urlEnv} is not set on the worker`,
      'NotifyConfig',
    );
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body(channel, event)),
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    // No `cause`: fetch's error names the URL, and a webhook URL is a secret that must stay out of history.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(
      `channel ${name}: no answer (${(err as Error).name === 'TimeoutError' ? 'timed out' : 'connection failed'})`,
    );
  }
  if (!res.ok) throw new Error(`channel ${name}: HTTP ${res.status}`);
  return done(`${event.type} delivered to ${name}`);
}
