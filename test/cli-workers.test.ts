import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createActivities, defaultDeps } from '../src/activities';
import type { RollbackClient } from '../src/client';
import type { RollbackRecord } from '../src/model';
import { createWorker } from '../src/worker';
import { commandRollback, commandTarget } from './rig/configs';
import { createFakeActivities, type FakeCall } from './rig/fake-activities';
import { eventually } from './rig/eventually';
import { ROOT, runCli, startReceiver } from './rig/rollback';
import { connectClient, installTestRuntime, testTaskQueue } from './rig/temporal';

/**
 * The CLI where workers are concerned, with the real command against the real server: no rollback
 * starts on a task queue nobody polls; one nobody ever picked up can be cancelled; status and watch
 * answer from the workflow history while no worker answers, and say so; status shows each notice's
 * delivery per channel; and text from a record cannot forge a line in the terminal.
 */
const root = mkdtempSync(join(tmpdir(), 'rb-workers-'));
const deployPath = join(root, 'srv');
mkdirSync(deployPath);
spawnSync('git', ['init', '-q', deployPath]);
const unpolled = testTaskQueue('unpolled'); // no worker ever polls it
let client: RollbackClient;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  client = await connectClient(unpolled);
  receiver = await startReceiver();
});
afterAll(async () => {
  await client.close();
  await receiver.close();
  rmSync(root, { recursive: true, force: true });
});

function targetConfig(target: string, extra: Record<string, unknown> = {}) {
  return {
    version: 1,
    ...extra,
    targets: {
      [target]: commandTarget(target, deployPath, root),
    },
  };
}

/** Starts through the client, as a mistyped --task-queue did before the CLI checked for workers. */
async function startDirect(
  target: string,
  taskQueue: string,
  extra: Record<string, unknown> = {},
  reason = 'v1.20.2 fails',
) {
  const { request, plan } = commandRollback(target, deployPath, root, { config: extra, request: { reason } });
  const c = await connectClient(taskQueue);
  try {
    return await c.start(request, plan);
  } finally {
    await c.close();
  }
}

/** `rollback watch ID`, its stderr readable while it runs. */
function watchCli(id: string) {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'rollback.js'), 'watch', id], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { stderr: () => stderr, exited };
}

const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2, 7)}`;

describe('no worker polls the task queue', () => {
  test('start refuses (exit 2) before starting anything, naming the queue and how to start a worker', async () => {
    const target = unique('nowk');
    const file = join(root, `${target}.yaml`);
    writeFileSync(file, stringify(targetConfig(target)));
    const args = [
      '--config',
      file,
      'start',
      'emergency',
      '--target',
      target,
      '--reason',
      'x',
      '--task-queue',
      unpolled,
    ];
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no worker polls task queue "${unpolled}"`);
    expect(r.stderr).toContain(`rollback worker --task-queue ${unpolled}`);
    const json = await runCli([...args, '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      exitCode: 2,
      error: expect.stringContaining(unpolled),
    });
    await expect(client.describe(`rollback-${target}`)).rejects.toThrow(/not found/i);
    expect(existsSync(join(root, target))).toBe(false);
  });

  test('status and watch answer from the history, saying no worker polls; approve is refused; cancel ends it', async () => {
    const target = unique('hist');
    const started = await startDirect(target, unpolled);

    const began = Date.now();
    const status = await runCli(['status', started.workflowId, '--json']);
    const answeredMs = Date.now() - began;
    expect(status.code).toBe(0);
    const view = JSON.parse(status.stdout) as {
      source: string;
      workers: { polling: boolean; taskQueue: string };
      note: string;
      record: RollbackRecord;
    };
    expect(view.source).toBe('history');
    expect(view.workers).toMatchObject({ polling: false, taskQueue: unpolled });
    expect(view.note).toContain(`no worker is polling task queue "${unpolled}"`);
    expect(view.record.steps.map((s) => s.id)).toEqual(
      expect.arrayContaining(['inspect', 'checkout', 'start']),
    );
    expect(view.record.steps.every((s) => s.state === 'pending')).toBe(true);
    process.stderr.write(`[cli-workers] status without a worker answered in ${answeredMs} ms\n`);
    const human = await runCli(['status', started.workflowId]);
    expect(human.stdout).toContain(
      `note: no worker is polling task queue "${unpolled}", and none has picked this rollback up yet`,
    );

    const approve = await runCli(['approve', started.workflowId, '--as', 'carol']);
    expect(approve.code).toBe(2);
    expect(approve.stderr).toContain(`no worker polls task queue "${unpolled}"`);
    expect(approve.stderr).toContain('--signal');

    const watch = watchCli(started.workflowId);
    await eventually(
      'watch to say no worker polls',
      () => watch.stderr().includes('no worker is polling'),
      60_000,
    );
    const cancel = await runCli(['cancel', started.workflowId, '--as', 'bob']);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain('no worker ever picked it up');
    expect((await client.describe(started.workflowId)).status.name).toBe('TERMINATED');
    expect(await watch.exited).toBe(1);
    expect(watch.stderr()).toContain(`no worker is polling task queue "${unpolled}"`);
  });
});

describe('a worker that stops mid-rollback', () => {
  const taskQueue = testTaskQueue('stops');
  const calls: FakeCall[] = [];
  const activities = (block: boolean) => ({
    ...createFakeActivities({ calls, block: block ? { stopService: {} } : {} }),
    // The real delivery: the Slack channel's URL variable is not set on this worker.
    sendNotification: createActivities(defaultDeps({ env: {} })).sendNotification,
  });

  async function runWorker(block: boolean) {
    installTestRuntime();
    const { worker, close } = await createWorker({ taskQueue, activities: activities(block) });
    const running = worker.run();
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      worker.shutdown();
      await running;
      await close();
    };
  }

  test('status shows the steps, the pending attempt and the notices from history; then each notice’s delivery', async () => {
    const target = unique('stops');
    const notify = {
      notify: {
        channels: [
          { type: 'slack', name: 'oncall', urlEnv: 'ROLLBACK_TEST_UNSET_SLACK_URL' },
          { type: 'webhook', name: 'hooks', url: receiver.url },
        ],
      },
    };
    let stopWorker = await runWorker(true);
    const forged = 'v1.20.2 fails\n  approved by carol at 2026-11-22T00:00:00Z \u001b[2J';
    const started = await startDirect(target, taskQueue, notify, forged);
    try {
      await eventually('the stop step to run', () => calls.some((c) => c.activity === 'stopService'), 60_000);
      const startedNotice = `${started.workflowId}-${started.runId}-notify-1-started`;
      await eventually(
        'the started notice',
        async () => (await client.describe(startedNotice)).status.name === 'COMPLETED',
        60_000,
      );
      await stopWorker();

      const status = await runCli(['status', started.workflowId, '--json']);
      expect(status.code).toBe(0);
      const view = JSON.parse(status.stdout) as {
        source: string;
        note: string;
        record: RollbackRecord;
        pendingActivities: { activity: string; attempt: number }[];
        notices: { event: string; outcomes: { channel: string; delivered: boolean; detail?: string }[] }[];
      };
      expect(view.source).toBe('history');
      expect(view.note).toContain('this is what its workflow history records');
      const step = (id: string) => view.record.steps.find((s) => s.id === id)!;
      expect(step('backup').state).toBe('succeeded');
      expect(step('stop')).toMatchObject({ state: 'running', attempts: expect.any(Number) });
      expect(step('checkout').state).toBe('pending');
      expect(view.pendingActivities).toEqual([expect.objectContaining({ activity: 'stopService' })]);
      expect(view.notices[0]).toMatchObject({
        event: 'started',
        outcomes: expect.arrayContaining([
          {
            channel: 'oncall',
            delivered: false,
            detail:
              'channel oncall: environment variable ROLLBACK_TEST_UNSET_SLACK_URL is not set on the worker',
          },
          { channel: 'hooks', delivered: true },
        ]),
      });

      // A newline or an escape in the record is shown as typed, on its own line: it forges nothing.
      const human = await runCli(['status', started.workflowId]);
      expect(human.stdout).not.toContain('\u001b');
      expect(human.stdout.split('\n').some((l) => l.startsWith('  approved by carol'))).toBe(false);
      expect(human.stdout).toContain('v1.20.2 fails\\n  approved by carol');
      expect(human.stdout).toContain(
        '✘ started → oncall: not delivered (channel oncall: environment variable ROLLBACK_TEST_UNSET_SLACK_URL is not set on the worker)',
      );
      expect(human.stdout).toContain('✔ started → hooks: delivered');

      // Back with a worker, the rollback goes on; status reads the workflow's own record again.
      stopWorker = await runWorker(false);
      await client.result(started.workflowId, started.runId);
      const done = await eventually(
        'every notice delivered or not',
        async () => {
          const r = await runCli(['status', started.workflowId, '--json']);
          const v = JSON.parse(r.stdout) as typeof view & { workflowStatus: string };
          return v.notices.every((n) => n.outcomes.length === 2) && v.notices.length >= 2 ? v : undefined;
        },
        60_000,
      );
      expect(done.source).toBe('workflow');
      expect(done.notices.map((n) => n.event)).toEqual(['started', 'succeeded']);
    } finally {
      await stopWorker();
    }
  });
});
