import { z } from 'zod';
import { oneLine } from '../../model/text';
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

/**
 * Text as Slack mrkdwn shows it, not as it reads it: `<` starts a mention (`<!channel>`, `<@U1>`)
 * or a link whose label hides its target, so &, < and > become entities (Slack's own escaping),
 * and a newline could start a line that looks like ours, so the text stays on one line.
 */
export function slackText(text: string): string {
  return oneLine(text).replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

/** A URL inside Slack's `<url|label>`: nothing in it may end the link or start another. */
function slackLinkUrl(url: string): string {
  return oneLine(url)
    .replace(/[<>|\s]/g, (c) => encodeURIComponent(c))
    .replace(/&/g, '&amp;');
}

const schema = z.strictObject({ type: z.literal('slack'), ...urlOrEnv });

/** A Slack incoming webhook: a line with an icon, the plan's steps, and a link to the Web UI. */
export const slack: NotificationChannel<typeof schema> = {
  schema,
  urlIsSecret: true,
  body(_channel, e) {
    const icon = Object.hasOwn(ICON, e.type) ? `${ICON[e.type]} ` : '';
    const lines = [`${icon}*${slackText(headline(e))}*`];
    if (Array.isArray(e.plan))
      lines.push(e.plan.map((s, i) => `${i + 1}. ${slackText(String(s))}`).join('\n'));
    if (Array.isArray(e.findings) && e.findings.length > 0)
      lines.push(`*Pre-flight analysis*\n${e.findings.map((f) => `• ${slackText(String(f))}`).join('\n')}`);
    if (e.webUrl) lines.push(`<${slackLinkUrl(e.webUrl)}|Open in the Temporal Web UI>`);
    return { text: lines.join('\n') };
  },
};
