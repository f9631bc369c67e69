import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

/**
 * Recorded rollbacks of every kind and outcome, replayed against today's workflow code: a change
 * that would break a rollback in flight (an approval waiting, a validation phase on its timer)
 * fails here. `v1/` was recorded by the code before the target-kind modules, `v2/` by the code with
 * the read-only checks first (plan format 3), `v3/` by the code whose start's watch runs beside the
 * checks after it (patch start-beside-checks), `v4/` by the code that writes the incident log beside
 * the backup (patch incident-beside-backup); keep a set while rollbacks started by its code may
 * still be running. Record a new set with
 * `npx tsx test/replay/record.ts test/replay/histories/NAME` (README, "Replay safety").
 */
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  /* installed already in this process */
}

const DIR = join(__dirname, 'replay', 'histories');

const histories = readdirSync(DIR).flatMap((set) =>
  readdirSync(join(DIR, set))
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ name: `${set}/${f.replace(/\.json$/, '')}`, file: join(DIR, set, f) })),
);

test('there are recorded histories to replay', () => {
  expect(histories.length).toBeGreaterThanOrEqual(8);
});

test.each(histories.map((h) => [h.name, h.file] as const))(
  '%s replays without nondeterminism',
  async (_, file) => {
    const { workflowId, history } = JSON.parse(readFileSync(file, 'utf8')) as {
      workflowId: string;
      history: unknown;
    };
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: process.env.ROLLBACK_WORKFLOW_BUNDLE! } },
      history,
      workflowId,
    );
  },
);
