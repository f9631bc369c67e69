import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { temporal } from '@temporalio/proto';
import { upstreamFor } from '../src/activities/blue-green';
import {
  BAD_TAG,
  BAD_VERSION,
  createFixtureRemote,
  deployWorkingCopy,
  GOOD_TAG,
  GOOD_VERSION,
} from './rig/fixture-repo';
import { startNginx, type TestNginx } from './rig/nginx';
import { withFreshPort } from './rig/ports';
import { listToolsHttp, runCli, startRollback } from './rig/rollback';
import { FIXTURE_TOOLS, health, scratchRoot, untilListening, type Sandbox } from './rig/sandbox';
import { rollbackSuite } from './rig/suite';
import { eventually } from './rig/eventually';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { killHard, spawnWorkerProcess } from './rig/worker-process';

/**
 * Blue-green rollbacks against a real nginx in front of two real fixture instances: blue runs the
 * good release (standby), green the bad one (live). The rollback checks blue directly, rewrites the
 * upstream file (nginx -t, then nginx -s reload) and checks the proxy serves blue.
 */

const suite = rollbackSuite('bluegreen');
const SERVICE_CTL = join(__dirname, 'fixtures', 'service-ctl.sh');

interface Colour {
  path: string;
  port: number;
  url: string;
  ctl: (verb: 'start' | 'stop' | 'status') => string[];
}

interface BlueGreenSandbox {
  sb: Pick<Sandbox, 'target' | 'configFile' | 'reportsDir' | 'secret'>;
  blue: Colour;
  green: Colour;
  nginx: TestNginx;
}

async function colour(
  root: string,
  name: string,
  remote: string,
  tag: string,
  secret: string,
): Promise<Colour> {
  const path = join(root, name);
  await deployWorkingCopy({ remote, path, ref: tag, env: { LIGHTDASH_API_KEY: secret } });
  const pidFile = join(root, `${name}.pid`);
  const ctlFor = (port: number) => (verb: string) => ['bash', SERVICE_CTL, verb, path, String(port), pidFile];
  const { reservation } = await withFreshPort(`the ${name} colour`, async (port) => {
    execFileSync(ctlFor(port)('start')[0]!, ctlFor(port)('start').slice(1));
    await untilListening(`the ${name} colour`, port, [`${pidFile}.log`]);
  });
  suite.defer(`stop ${name}`, () => {
    execFileSync('bash', ctlFor(reservation.port)('stop').slice(1));
    reservation.release();
  });
  return {
    path,
    port: reservation.port,
    url: `http://127.0.0.1:${reservation.port}`,
    ctl: ctlFor(reservation.port),
  };
}

async function blueGreen(
  name: string,
  edit?: (deploy: Record<string, any>) => void,
): Promise<BlueGreenSandbox> {
  const root = mkdtempSync(join(scratchRoot(), `rb-${name}-`));
  suite.defer(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  const secret = `canary-${randomBytes(12).toString('hex')}`;
  const { remote } = await createFixtureRemote({ dir: join(root, 'git'), badMode: 'tools-missing' });
  const blue = await colour(root, 'blue', remote, GOOD_TAG, secret);
  const green = await colour(root, 'green', remote, BAD_TAG, secret);
  const nginx = await startNginx(upstreamFor('app', green.url, 'green'));
  suite.defer(`nginx of ${name}`, () => nginx.stop());
  const reportsDir = join(root, 'reports');
  mkdirSync(reportsDir);
  const deploy: Record<string, any> = {
    type: 'blue-green',
    blue: { url: blue.url, stop: blue.ctl('stop') },
    green: { url: green.url, stop: green.ctl('stop') },
    proxyUrl: nginx.url,
    switch: { nginx: { upstreamFile: nginx.upstreamFile, upstream: 'app', command: nginx.command } },
    healthTimeoutSeconds: 5,
  };
  edit?.(deploy);
  const configFile = join(root, 'rollback.yaml');
  writeFileSync(
    configFile,
    stringify({
      version: 1,
      targets: {
        [name]: {
          deploy,
          reportsDir,
          validate: { mcp: { url: `${nginx.url}/mcp`, expectedTools: FIXTURE_TOOLS } },
        },
      },
    }),
  );
  return { sb: { target: name, configFile, reportsDir, secret }, blue, green, nginx };
}

async function proxyVersion(bg: BlueGreenSandbox): Promise<string | undefined> {
  return (await health(bg.nginx.port)).body.version;
}

/**
 * The version the proxy serves once it has settled: `nginx -s reload` returns before nginx's old
 * workers have finished, so for a moment after a switch a request may still go the old way.
 */
async function proxySettlesOn(bg: BlueGreenSandbox, version: string): Promise<string | undefined> {
  let last: string | undefined;
  try {
    await eventually(
      `the proxy to serve ${version}`,
      async () => (last = await proxyVersion(bg)) === version,
      10_000,
    );
  } catch {
    // The assertion that follows shows what it served instead.
  }
  return last;
}

test('emergency: traffic goes back to the standby colour through nginx; the other colour keeps running', async () => {
  const bg = await blueGreen('bg-em');
  expect(await proxyVersion(bg)).toBe(BAD_VERSION);
  const started = await startRollback(suite.client, bg.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.status).toBe('succeeded');
  expect(record.fromVersion).toBe(BAD_VERSION);
  expect(record.toVersion).toBe(GOOD_VERSION);
  expect(record.steps.find((s) => s.id === 'switch')!.summary).toContain('traffic to blue');
  expect(readFileSync(bg.nginx.upstreamFile, 'utf8')).toBe(upstreamFor('app', bg.blue.url, 'blue'));
  expect(await proxySettlesOn(bg, GOOD_VERSION)).toBe(GOOD_VERSION);
  expect(await listToolsHttp(bg.nginx.port)).toHaveLength(FIXTURE_TOOLS);
  // The bad colour still runs, for investigation (keepOtherSeconds 0: until someone stops it).
  expect((await health(bg.green.port)).body.version).toBe(BAD_VERSION);
  const history = await suite.client.client.workflow.getHandle(started.workflowId).fetchHistory();
  expect(
    Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1'),
  ).not.toContain(bg.sb.secret);
});

test('keepOtherSeconds: the colour that served before is stopped after its time', async () => {
  const bg = await blueGreen('bg-keep', (d) => (d.keepOtherSeconds = 2));
  const started = await startRollback(suite.client, bg.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.steps.find((s) => s.id === 'stop-other')!.summary).toContain('stopped green');
  await expect(health(bg.green.port)).rejects.toThrow();
  expect(await proxySettlesOn(bg, GOOD_VERSION)).toBe(GOOD_VERSION);
});

test('a check through the proxy that fails after the switch: the switch is undone, traffic back on the colour it was on', async () => {
  const bg = await blueGreen('bg-undo');
  const config = readFileSync(bg.sb.configFile, 'utf8').replace(
    `expectedTools: ${FIXTURE_TOOLS}`,
    'expectedTools: 99',
  );
  writeFileSync(bg.sb.configFile, config);
  const before = readFileSync(bg.nginx.upstreamFile, 'utf8');
  const started = await startRollback(suite.client, bg.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  const record = result.record!;
  expect(record.failure).toMatchObject({ stepId: 'validate-mcp-http' });
  expect(record.undos.map((u) => u.activity)).toEqual(['switchColour']);
  expect(record.status).toBe('compensated');
  expect(readFileSync(bg.nginx.upstreamFile, 'utf8')).toBe(before);
  expect(await proxySettlesOn(bg, BAD_VERSION)).toBe(BAD_VERSION);
});

test('a worker killed with SIGKILL while the other colour is kept: a new worker finishes, nothing switched twice', async () => {
  const taskQueue = testTaskQueue('bg-crash');
  const bg = await blueGreen('bg-crash', (d) => (d.keepOtherSeconds = 4));
  const first = await spawnWorkerProcess(suite.client.address, taskQueue);
  const client = await connectClient(taskQueue);
  suite.defer('the crash client', () => client.close());
  const started = await startRollback(client, bg.sb as Sandbox);
  await eventually('the keep-other wait to start', async () => {
    const progress = await client.progress(started.workflowId, started.runId);
    return progress.steps.find((s) => s.id === 'keep-other')?.state === 'running';
  });
  await killHard(first);
  const second = await startWorker(taskQueue);
  suite.defer('the second worker', () => second.stop());
  const result = await client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.status).toBe('succeeded');
  for (const id of ['inspect', 'check-standby', 'switch'])
    expect(record.steps.find((s) => s.id === id)!.attempts).toBe(1);
  expect(record.steps.find((s) => s.id === 'stop-other')!.summary).toContain('stopped green');
  expect(await proxySettlesOn(bg, GOOD_VERSION)).toBe(GOOD_VERSION);
});

test('an unhealthy standby is refused before the switch: nothing changed', async () => {
  const bg = await blueGreen('bg-down', (d) => (d.healthTimeoutSeconds = 1));
  execFileSync('bash', bg.blue.ctl('stop').slice(1));
  const before = readFileSync(bg.nginx.upstreamFile, 'utf8');
  const started = await startRollback(suite.client, bg.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  const record = result.record!;
  expect(record.status).toBe('refused');
  expect(record.steps.find((s) => s.id === 'check-standby')!.lastError).toContain(`${bg.blue.url}/health`);
  expect(record.steps.find((s) => s.id === 'switch')!.state).toBe('pending');
  expect(readFileSync(bg.nginx.upstreamFile, 'utf8')).toBe(before);
  expect(await proxyVersion(bg)).toBe(BAD_VERSION); // nothing was reloaded: no settling to wait for
});

test('an nginx configuration that fails nginx -t: start is refused naming it, nothing switched', async () => {
  const bg = await blueGreen('bg-conf');
  appendFileSync(bg.nginx.conf, '\nthis is not nginx;\n');
  const before = readFileSync(bg.nginx.upstreamFile, 'utf8');
  const r = await runCli([
    '--config',
    bg.sb.configFile,
    'start',
    'emergency',
    '--target',
    bg.sb.target,
    '--reason',
    'green is bad',
    '--task-queue',
    suite.taskQueue,
  ]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('-t refused the configuration');
  expect(r.stderr).toContain('unknown directive "this"');
  expect(readFileSync(bg.nginx.upstreamFile, 'utf8')).toBe(before);
  expect(await proxyVersion(bg)).toBe(BAD_VERSION); // nothing was reloaded: no settling to wait for
});

test('a command switch (any other balancer): the colour commands move the traffic, active says which is live', async () => {
  // The balancer here is the same nginx, driven by scripts of the operator's: copy a prepared
  // upstream file over the live one and reload; `active` prints the colour the file names.
  const bg = await blueGreen('bg-cmd', (d) => {
    const [bin, , prefix, , conf] = d.switch.nginx.command as string[];
    const file = d.switch.nginx.upstreamFile as string;
    const moveTo = (colour: string) => [
      'sh',
      '-c',
      'cp "$1.$2" "$1" && "$3" -p "$4" -c "$5" -s reload',
      'sh',
      file,
      colour,
      bin!,
      prefix!,
      conf!,
    ];
    d.switch = {
      command: {
        blue: moveTo('blue'),
        green: moveTo('green'),
        active: ['sed', '-n', 's/^# managed by rollback-orchestrator: traffic goes to //p', file],
      },
    };
  });
  for (const c of ['blue', 'green'] as const)
    writeFileSync(`${bg.nginx.upstreamFile}.${c}`, upstreamFor('app', bg[c].url, c));
  const started = await startRollback(suite.client, bg.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  expect(result.record!.steps.find((s) => s.id === 'inspect')!.summary).toContain('live: green');
  expect(await proxySettlesOn(bg, GOOD_VERSION)).toBe(GOOD_VERSION);
});

test('bad input: the same url for both colours, and partial or complete rollbacks, are refused with the fix', async () => {
  const bg = await blueGreen('bg-bad', (d) => (d.green.url = d.blue.url));
  const check = await runCli(['--config', bg.sb.configFile, 'config', 'check']);
  expect(check.code).toBe(2);
  expect(check.stderr).toContain('blue and green must be different instances');
  const ok = await blueGreen('bg-bad2');
  const partial = await runCli(['--config', ok.sb.configFile, 'plan', 'partial', '--target', ok.sb.target]);
  expect(partial.code).toBe(2);
  expect(partial.stderr).toContain('is blue-green: a partial rollback sets flags');
});
