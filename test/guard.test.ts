import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { GuardClient } from '../src/guard-client';
import { guardWorkflowId } from '../src/model/guard';
import { commandTarget } from './rig/configs';
import { eventually } from './rig/eventually';
import { GOOD_VERSION } from './rig/fixture-repo';
import { startPrometheus, type TestPrometheus } from './rig/prometheus';
import { runCli } from './rig/rollback';
import { health, scratchRoot } from './rig/sandbox';
import { rollbackSuite } from './rig/suite';

/**
 * Guards against real components: a real Prometheus scraping the lightdash-mcp fixture's /metrics
 * (and a gauge served by the test), the guard workflow on the dev server, and a real emergency
 * rollback (git, npm ci, pm2) that the guard starts. Windows are seconds here, minutes in the runbook.
 */

const suite = rollbackSuite('guard');
const ERROR_RATE = 'sum(rate(http_requests_total{code="500"}[5s])) / sum(rate(http_requests_total[5s]))';

let prometheus: TestPrometheus;
let gauge: { server: Server; value: number; port: number };

beforeAll(async () => {
  const state = { value: 0 };
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`# TYPE app_error_ratio gauge\napp_error_ratio ${state.value}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  gauge = {
    server,
    get value() {
      return state.value;
    },
    set value(v: number) {
      state.value = v;
    },
    port: (server.address() as AddressInfo).port,
  };
});

afterAll(async () => {
  await prometheus?.stop();
  await new Promise((r) => gauge?.server.close(r));
});

const cli = (configFile: string, args: string[]) =>
  runCli(['--config', configFile, 'guard', ...args, '--task-queue', suite.taskQueue]);

function addGuard(configFile: string, target: string, guard: Record<string, unknown>) {
  const config = parse(readFileSync(configFile, 'utf8')) as {
    targets: Record<string, Record<string, unknown>>;
  };
  config.targets[target].guard = guard;
  writeFileSync(configFile, stringify(config));
}

test('an error rate above 10% for the whole window: the guard starts an emergency rollback that brings the service back, with the evidence in the incident', async () => {
  const sb = await suite.sandbox({ name: 'guard-prom', badMode: 'errors' });
  const load = setInterval(() => {
    fetch(`http://127.0.0.1:${sb.port}/api/projects`)
      .then((r) => r.arrayBuffer())
      .catch(() => undefined);
  }, 40);
  suite.defer('the load', () => clearInterval(load));
  prometheus = await startPrometheus([`127.0.0.1:${sb.port}`, `127.0.0.1:${gauge.port}`]);
  await eventually(
    'Prometheus sees the bad release at about 20% errors',
    async () => ((await prometheus.query(ERROR_RATE)) ?? 0) > 0.15,
    60_000,
    500,
  );

  addGuard(sb.configFile, sb.target, {
    intervalSeconds: 1,
    coolDownSeconds: 600,
    rules: [
      {
        name: 'error-rate',
        signal: { type: 'prometheus', url: prometheus.url, query: ERROR_RATE },
        above: 0.1,
        forSeconds: 4,
      },
    ],
  });
  const started = await cli(sb.configFile, ['start', '--target', sb.target, '--json']);
  expect(started.stderr).toBe('');
  expect(started.code).toBe(0);
  expect(JSON.parse(started.stdout)).toMatchObject({ workflowId: guardWorkflowId(sb.target) });
  suite.defer('the guard', () =>
    new GuardClient(suite.client).stop(sb.target, 'test').catch(() => undefined),
  );

  const rollback = await eventually(
    'the guard starts a rollback',
    async () => (await suite.client.list({ target: sb.target }))[0],
    60_000,
    250,
  );
  const result = await suite.client.result(rollback.workflowId, rollback.runId);
  expect(result.error).toBeUndefined();
  expect(result.record).toMatchObject({
    kind: 'emergency',
    status: 'succeeded',
    requestedBy: 'guard:error-rate',
    trigger: { type: 'automatic', rule: 'error-rate' },
  });
  // The evidence: the rule, then every sample of the window, each above the threshold.
  const evidence = result.record!.trigger!.evidence;
  expect(evidence[0]).toMatch(/^rule error-rate: prometheus .* > 0\.1 held \d+ s \(window 4 s\)$/);
  const values = evidence.slice(1).map((l) => Number(l.trim().split(/\s+/)[1]));
  expect(values.length).toBeGreaterThanOrEqual(4);
  for (const v of values) expect(v).toBeGreaterThan(0.1);
  const incident = readFileSync(join(sb.reportsDir, result.record!.rollbackId, 'incident.md'), 'utf8');
  expect(incident).toContain('**Trigger**: automatic, guard rule error-rate');
  expect(incident).toContain(evidence[1].trim());

  // Back on the good release, and the error rate falls to nothing.
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  await eventually(
    'the error rate falls',
    async () => (await prometheus.query(ERROR_RATE)) === 0,
    30_000,
    500,
  );
  const status = await new GuardClient(suite.client).status(sb.target);
  expect(status.state.actions.filter((a) => a.action === 'rollback-started')).toEqual([
    expect.objectContaining({ rule: 'error-rate', workflowId: rollback.workflowId }),
  ]);
  expect(status.coolingDownUntil).toBeDefined();
  const text = await cli(sb.configFile, ['status', '--target', sb.target]);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain('rollback-started');
  expect(text.stdout).toMatch(/error-rate\s+> 0\.1\s+held \d+\/4 s/);

  const stopped = await cli(sb.configFile, ['stop', '--target', sb.target]);
  expect(stopped.code).toBe(0);
  const again = await cli(sb.configFile, ['status', '--target', sb.target]);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain(`no guard runs for target "${sb.target}"`);
});

test('a spike shorter than the window starts nothing', async () => {
  const root = mkdtempSync(join(scratchRoot(), 'rb-guard-spike-'));
  suite.defer('the spike folder', () => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'srv'));
  execFileSync('git', ['init', '-q', join(root, 'srv')]);
  const configFile = join(root, 'rollback.yaml');
  prometheus ??= await startPrometheus([`127.0.0.1:${gauge.port}`]);
  writeFileSync(
    configFile,
    stringify({
      version: 1,
      targets: {
        'guard-spike': {
          ...commandTarget('guard-spike', join(root, 'srv'), root),
          guard: {
            intervalSeconds: 0.5,
            rules: [
              {
                name: 'errors',
                signal: { type: 'prometheus', url: prometheus.url, query: 'app_error_ratio' },
                above: 0.1,
                forSeconds: 6,
              },
            ],
          },
        },
      },
    }),
  );
  expect((await cli(configFile, ['start', '--target', 'guard-spike'])).code).toBe(0);
  suite.defer('the spike guard', () =>
    new GuardClient(suite.client).stop('guard-spike', 'test').catch(() => undefined),
  );
  const guards = new GuardClient(suite.client);
  const breached = async () => (await guards.status('guard-spike')).rules[0].last?.value;

  gauge.value = 0.5;
  await eventually('the guard samples the spike', async () => ((await breached()) ?? 0) > 0.1, 20_000, 200);
  await new Promise((r) => setTimeout(r, 2000));
  gauge.value = 0;
  await eventually('the guard sees it clear', async () => (await breached()) === 0, 20_000, 200);
  // Longer than the window after the spike began: still nothing acted on, nothing started.
  await new Promise((r) => setTimeout(r, 5000));
  const status = await guards.status('guard-spike');
  expect(status.state.actions).toEqual([]);
  expect(status.rules[0].heldSeconds).toBe(0);
  expect(status.state.rules.errors.samples.some((s) => s.breached)).toBe(true);
  expect(await suite.client.list({ target: 'guard-spike' })).toEqual([]);
});
