import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RollbackRefusedError, type RollbackClient } from '../src/client';
import { Cleanup } from './rig/cleanup';
import { commandRollback } from './rig/configs';
import { eventually } from './rig/eventually';
import { reservePort } from './rig/ports';
import { ROOT, runCli } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { connectClient, testTaskQueue } from './rig/temporal';

/**
 * `rollback worker` as an operator runs it: Prometheus metrics from the SDK's telemetry, a health
 * endpoint, JSON log lines carrying the workflow id, and a clean exit on SIGTERM. The real CLI in
 * its own process against the rig's real server; the rollback it runs is refused by its read-only
 * checks (an empty repository), which is work enough to log.
 */

const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-worker-ops-'));
afterAll(() => cleanup.run());

test('metrics, /healthz, JSON logs with the workflowId, and SIGTERM: the worker exits 0 and its endpoints close', async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  const queue = testTaskQueue('worker-ops');
  const metrics = await reservePort();
  cleanup.add('the metrics port', () => metrics.release());
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'rollback.js'),
      'worker',
      '--task-queue',
      queue,
      '--metrics',
      `127.0.0.1:${metrics.port}`,
      '--health',
      '127.0.0.1:0',
      '--log-format',
      'json',
      '--shutdown-grace',
      '5',
    ],
    { env: { ...process.env, ROLLBACK_CONFIG: undefined }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanup.add('the worker', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const healthUrl = await eventually(
    'the worker serves its health',
    () => /health at (http:\/\/\S+)/.exec(stderr)?.[1],
    60_000,
  );
  const health = await fetch(healthUrl);
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ state: 'RUNNING', taskQueue: queue });

  // Some work: a rollback its read-only checks refuse (the repository has no tags).
  const deployPath = join(root, 'srv');
  mkdirSync(deployPath, { recursive: true });
  execFileSync('git', ['init', '-q', deployPath]);
  const target = 'worker-ops';
  const { request, plan } = commandRollback(target, deployPath, root);
  const client: RollbackClient = await connectClient(queue);
  cleanup.add('the client', () => client.close());
  await expect(client.startChecked(request, plan)).rejects.toBeInstanceOf(RollbackRefusedError);

  // Every line is one JSON object; the activity's lines carry the rollback's workflow id.
  const lines = await eventually('the activity is logged', () => {
    const parsed = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return parsed.some((l) => l.message === 'Activity failed') && parsed;
  });
  const started = lines.find((l) => l.message === 'activity started')!;
  expect(started).toMatchObject({
    level: 'info',
    workflowId: `rollback-${target}`,
    activityType: 'inspectGitDeployment',
    taskQueue: queue,
  });
  // The failure (the SDK's line), with the same metadata and the error's text.
  const failed = lines.find((l) => l.message === 'Activity failed')!;
  expect(failed).toMatchObject({
    level: 'warn',
    workflowId: `rollback-${target}`,
    durationMs: expect.any(Number),
  });
  expect((failed.error as { message: string }).message).toContain('git rev-parse HEAD failed');
  // A task token completes an activity from outside: it stays out of the logs.
  expect(stderr).not.toContain('taskToken');
  const activity = started;
  expect(Date.parse(activity.time as string)).not.toBeNaN();
  for (const l of stderr.split('\n').filter((x) => x.startsWith('{')))
    expect(() => JSON.parse(l)).not.toThrow();

  // The SDK's metrics, in Prometheus' text format.
  const scraped = await eventually('the metrics show the activity', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
    return (
      /temporal_activity_execution_latency|temporal_activity_schedule_to_start_latency/.test(text) && text
    );
  });
  expect(scraped).toMatch(/^# (HELP|TYPE) temporal_/m);
  expect(scraped).toContain(`task_queue="${queue}"`);

  // SIGTERM: the worker shuts down (no step was running to wait for) and exits 0.
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  await expect(fetch(healthUrl)).rejects.toThrow();
});

test('bad operator flags are refused before the worker starts', async () => {
  const a = await runCli(['worker', '--metrics', 'localhost']);
  expect(a.code).toBe(2);
  expect(a.stderr).toContain('--metrics "localhost" is not HOST:PORT, e.g. 127.0.0.1:9464');
  const b = await runCli(['worker', '--log-format', 'xml']);
  expect(b.code).toBe(2);
  expect(b.stderr).toContain('--log-format xml: give text or json');
  const c = await runCli(['worker', '--shutdown-grace', '-1']);
  expect(c.code).toBe(2);
  expect(c.stderr).toContain('--shutdown-grace -1');
});
