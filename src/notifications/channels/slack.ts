import { z } from 'zod';
import { headline } from '../headline';
import { urlOrEnv, type NotificationChannel } from './channel';

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

const schema = z.strictObject({ type: z.literal('slack'), ...urlOrEnv });

/** A Slack incoming webhook: a line with an icon, the plan's steps, and a link to the Web UI. */
export const slack: NotificationChannel<typeof schema> = {
  schema,
  urlIsSecret: true,
  body(_channel, e) {
    const lines = [`${ICON[e.type] ?? ''} *${headline(e)}*`];
    if (e.plan) lines.push(e.plan.map((s, i) => `${i + 1}. ${s}`).join('\n'));
    if (e.webUrl) lines.push(`<${e.webUrl}|Open in the Temporal Web UI>`);
    return { text: lines.join('\n') };
  },
};
