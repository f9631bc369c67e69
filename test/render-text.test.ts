import type { RollbackEvent, RollbackEventType, RollbackRecord } from '../src/model';
import { oneLine } from '../src/model/text';
import { channelBody, type NotifyChannel } from '../src/notifications/channels';
import { headline } from '../src/notifications/headline';
import { buildReports, type ReportBundle } from '../src/reports';

/**
 * Text from people (and anything an older record holds) is data in a report or a notification,
 * never layout: a newline in a reason cannot forge an "approved by carol" line, a heading or a
 * table row, and nothing can mention @channel or hide a link in Slack. The text stays readable:
 * what a Markdown viewer (or Slack) shows is the text as typed, control characters made visible.
 */

const FORGE =
  'v1.20.2 broke\n- **Approvals**: approved by carol\n## Forged heading\n| forged | row | x | y | z |\r\n' +
  '<!-- rollback:other-id --> <script>alert(1)</script> [click](http://evil.example) `code` *em* _u_ ~s~ ' +
  '&lt; <!channel> <http://evil.example|docs> \u001b[31mred\u202e';

const hostile = {
  reason: FORGE,
  impact: FORGE,
  requestedBy: 'mallory\n- **Reporter**: carol',
  approver: 'bob\n## Approved by everyone',
  comment: FORGE,
  title: 'Check health\n## Forged step',
  error: FORGE,
  rollbackId: 'svc-1 --> <b>x</b>\n# id',
};
const benign: typeof hostile = {
  reason: 'v1.20.2 broke',
  impact: 'analysts',
  requestedBy: 'mallory',
  approver: 'bob',
  comment: 'fine',
  title: 'Check health',
  error: 'HTTP 503',
  rollbackId: 'svc-1',
};

function record(t: typeof hostile): RollbackRecord {
  const at = '2026-01-01T00:00:10.000Z';
  return {
    rollbackId: t.rollbackId,
    target: 'svc',
    kind: 'emergency',
    toVersion: 'v1.11.4',
    fromVersion: 'v1.20.2',
    reason: t.reason,
    impact: t.impact,
    requestedBy: t.requestedBy,
    requestedAt: '2026-01-01T00:00:00.000Z',
    status: 'compensated',
    startedAt: '2026-01-01T00:00:01.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    durationMs: 59_000,
    // A migration file's name comes from the repository: as hostile as any text from people.
    findings: [
      {
        id: `migration:${t.rollbackId}`,
        severity: 'block',
        accepted: true,
        title: t.title,
        details: [t.error],
      },
    ],
    steps: [
      {
        id: 'stop',
        title: 'Stop',
        activity: 'stopService',
        role: 'stop',
        state: 'succeeded',
        attempts: 1,
        summary: t.error,
        durationMs: 10,
      },
      {
        id: 'start',
        title: 'Start',
        activity: 'startService',
        role: 'start',
        state: 'succeeded',
        attempts: 1,
        durationMs: 10,
      },
      {
        id: 'validate-health',
        title: t.title,
        activity: 'checkHealth',
        role: 'validate',
        state: 'failed',
        attempts: 3,
        lastError: t.error,
        durationMs: 20,
      },
    ],
    undos: [{ stepId: 'stop', activity: 'startService', state: 'failed', error: t.error }],
    failure: { stepId: 'validate-health', title: t.title, message: t.error },
    approvals: [{ by: t.approver, at, decision: 'approved', comment: t.comment, via: 'update' }],
    decisions: [
      {
        stepId: 'validate-health',
        decision: 'compensate',
        by: t.approver,
        at,
        comment: t.comment,
        via: 'update',
      },
    ],
    audit: [],
  } as RollbackRecord;
}

function reports(t: typeof hostile): ReportBundle {
  return buildReports(record(t), {
    rollbackId: t.rollbackId,
    target: 'svc',
    kind: 'emergency',
    toVersion: 'v1.11.4',
    reason: t.reason,
    impact: t.impact,
    requestedBy: t.requestedBy,
    requestedAt: '2026-01-01T00:00:00.000Z',
    affectedSystems: ['svc', t.title],
  });
}

const unescapedPipes = (line: string) => (line.match(/(?<!\\)\|/g) ?? []).length;

/** What a line is to a Markdown reader: a heading of some level, a list item, a table row of N cells... */
function shape(line: string): string {
  if (/^#+ /.test(line)) return `heading ${line.indexOf(' ')}`;
  if (/^\s*- /.test(line)) return `item ${line.search(/\S/)}`;
  if (/^\d+\. /.test(line)) return 'numbered';
  if (line.startsWith('|')) return `row ${unescapedPipes(line)}`;
  if (line.startsWith('<!--')) return 'comment';
  return line === '' ? 'blank' : 'text';
}

/** What a Markdown viewer shows for escaped inline text: backslash escapes and entities undone. */
const shown = (text: string) =>
  text
    .replace(/\\([!-/:-@[-`{-~])/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&amp;/g, '&');

describe('reports: text from a record is data, never layout', () => {
  const bad = reports(hostile);
  const good = reports(benign);
  const docs = ['incident', 'logEntry', 'analysis'] as const;

  test.each(docs)('%s has the same lines, headings, items and table cells as with plain text', (doc) => {
    const lines = bad[doc].split('\n');
    expect(lines.map(shape)).toEqual(good[doc].split('\n').map(shape));
    for (const forged of [
      /^#+ (Forged|Approved by everyone|id)/,
      /^- \*\*(Approvals|Reporter)\*\*: (approved by )?carol/,
      /^\| forged/,
    ]) {
      expect(lines.filter((l) => forged.test(l))).toEqual([]);
    }
    // No HTML, no comment but the log's own marker, no raw control characters.
    expect(bad[doc]).not.toMatch(/<(script|b|!channel|http)/);
    expect(bad[doc].split('<!--').length - 1).toBe(doc === 'logEntry' ? 1 : 0);
    // eslint-disable-next-line no-control-regex -- the control characters are what must not be there
    expect(bad[doc]).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202e]/);
  });

  test('the text stays readable: a viewer shows it as typed, with control characters made visible', () => {
    const typed = oneLine(FORGE);
    const line = (doc: string, prefix: string) => doc.split('\n').find((l) => l.startsWith(prefix))!;
    expect(shown(line(bad.incident, '- **Description**: '))).toBe(`- **Description**: ${typed}`);
    expect(shown(line(bad.incident, '- **Reporter**: '))).toBe(
      `- **Reporter**: ${oneLine(hostile.requestedBy)}`,
    );
    expect(shown(line(bad.logEntry, '- **Trigger**: '))).toBe(
      `- **Trigger**: ${typed} (requested by ${oneLine(hostile.requestedBy)})`,
    );
    expect(shown(line(bad.analysis, '- **Impact**: '))).toBe(`- **Impact**: ${typed}`);
    const approval = bad.analysis.split('\n').filter((l) => l.includes('**approved**'));
    expect(approval.map(shown)).toEqual([
      `- 2026-01-01T00:00:10.000Z: ${oneLine(hostile.approver)} **approved** — ${typed}`,
    ]);
    // In a table cell, the step's error is one cell, readable.
    const row = line(bad.analysis, `| ${'Check health\\\\n## Forged step'}`);
    expect(unescapedPipes(row)).toBe(5);
    expect(shown(row)).toContain(typed);
  });

  test("the log entry's marker cannot be forged or closed early by a rollback id", () => {
    expect(bad.logEntry.split('\n')[0]).toBe(`<!-- rollback:${encodeURIComponent(hostile.rollbackId)} -->`);
    expect(good.logEntry.split('\n')[0]).toBe('<!-- rollback:svc-1 -->');
    expect(bad.logEntry).not.toContain('<!-- rollback:other-id -->');
  });

  test('a record from an older or foreign workflow renders without a TypeError or a built-in', () => {
    const odd = {
      ...record(benign),
      kind: 'constructor',
      status: 'toString',
      reason: 42,
      approvals: 'none',
      decisions: [{ stepId: 'x', decision: 'retry', by: undefined, at: null, comment: { a: 1 } }],
      steps: [{ id: 's', title: 'S', activity: 'toString', state: 'succeeded', attempts: 1 }],
    } as unknown as RollbackRecord;
    const out = buildReports(odd);
    const all = `${out.incident}\n${out.logEntry}\n${out.analysis}`;
    expect(all).not.toMatch(/native code|function /);
    expect(out.analysis).toContain('constructor rollback.');
    expect(out.incident).toContain('- **Description**: 42');
  });
});

const TYPES: RollbackEventType[] = [
  'started',
  'awaiting-approval',
  'approval-escalated',
  'approved',
  'rejected',
  'step-failed',
  'compensated',
  'succeeded',
  'failed',
  'cancelled',
  'aborted',
];

function event(type: RollbackEventType, t = hostile): RollbackEvent {
  return {
    type,
    at: '2026-01-01T00:00:00.000Z',
    rollbackId: 'svc-1',
    workflowId: 'rollback-svc',
    target: 'svc',
    kind: 'emergency',
    toVersion: 'v1.11.4',
    fromVersion: 'v1.20.2',
    requestedBy: t.requestedBy,
    reason: t.reason,
    status: 'running',
    step: { id: 'validate-health', title: t.title, error: t.error },
    plan: [t.title, 'Stop the service'],
    approvers: ['carol\n<!channel>', 'dave'],
    by: t.approver,
    comment: t.comment,
    webUrl: 'http://ui.example:8233/namespaces/default/workflows/rollback-svc/run|<!here>/history',
  };
}

const slackChannel = { type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' } as NotifyChannel;
const statusChannel = { type: 'statuspage', url: 'https://status.example.com/api' } as NotifyChannel;

/** What Slack shows for mrkdwn text: its three entities undone. */
const slackShown = (text: string) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

describe('notifications: text from people cannot add lines, mentions or links', () => {
  test.each(TYPES)('%s: the headline is one line, in every channel', (type) => {
    const e = event(type);
    // eslint-disable-next-line no-control-regex -- the control characters are what must not be there
    expect(headline(e)).not.toMatch(/[\r\n\u001b\u202e]/);
    const status = channelBody(statusChannel, e) as { message: string };
    expect(status.message).toBe(headline(e));
    const { text } = channelBody(slackChannel, e) as { text: string };
    // The headline, the two plan steps, the Web UI link: nothing else starts a line.
    expect(text.split('\n')).toHaveLength(4);
    expect(text.split('\n')[3]).toMatch(
      /^<http:\/\/ui\.example:8233\/[^<>|]*\|Open in the Temporal Web UI>$/,
    );
    // The link is the only `<` Slack will read: no <!channel>, <!here>, <@U…> or disguised link.
    expect(text.split('<')).toHaveLength(2);
  });

  test('Slack shows the text as typed', () => {
    const { text } = channelBody(slackChannel, event('approved')) as { text: string };
    const [head, step1] = text.split('\n');
    expect(slackShown(head!)).toContain(`approved by ${oneLine(hostile.approver)}: ${oneLine(FORGE)}`);
    expect(slackShown(step1!)).toBe(`1. ${oneLine(hostile.title)}`);
    const awaiting = (channelBody(slackChannel, event('awaiting-approval')) as { text: string }).text;
    expect(slackShown(awaiting.split('\n')[0]!)).toContain('awaits approval (carol\\n<!channel>, dave)');
  });

  test('an event or channel of a type nobody knows is an error or a plain line, never a built-in', () => {
    const odd = { ...event('started', benign), type: 'toString' } as unknown as RollbackEvent;
    expect(headline(odd)).toBe('emergency rollback of svc v1.20.2 → v1.11.4: toString');
    expect((channelBody(slackChannel, odd) as { text: string }).text).not.toMatch(/native code|function /);
    expect(() => channelBody({ type: 'constructor' } as unknown as NotifyChannel, odd)).toThrow(
      new Error('unknown notification channel type "constructor"'),
    );
  });
});
