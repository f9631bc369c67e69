import type { RollbackEvent } from '../model';
import { channelBody, channelName, type NotifyChannel } from '../notifications/channels';
import { done, permanent, type StepResult } from './common';
import type { ActivityDeps } from './deps';

/**
 * Posts one event to one channel. The URL may come from the worker's environment (webhook URLs
 * are secrets), so errors name the channel, never the URL.
 */
async function sendNotification(
  input: { channel: NotifyChannel; event: RollbackEvent },
  env: ActivityDeps['env'],
): Promise<StepResult> {
  const { channel, event } = input;
  const name = channelName(channel);
  const url = channel.url ?? (channel.urlEnv ? env[channel.urlEnv] : undefined);
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
      body: JSON.stringify(channelBody(channel, event)),
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

/** Delivery of rollback events to the configured channels, URLs from the worker's environment. */
export function notifyActivities(deps: Pick<ActivityDeps, 'env'>) {
  return {
    sendNotification: (input: { channel: NotifyChannel; event: RollbackEvent }) =>
      sendNotification(input, deps.env),
  };
}
