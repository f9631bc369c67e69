import { existsSync, readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { join } from 'node:path';
import { BAD_VERSION, GOOD_VERSION, gitDescribe, type FailureMode } from './rig/fixture-repo';
import { rollbackSuite } from './rig/suite';
import { FIXTURE_TOOLS, health, pm2Status, type Sandbox } from './rig/sandbox';
import { listToolsHttp, listToolsStdio, runCli, startRollback } from './rig/rollback';
import { readTree } from './rig/read-tree';

const suite = rollbackSuite('emergency');

async function expectRecovered(sb: Sandbox) {
  const h = await health(sb.port);
  expect(h.status).toBe(200);
  expect(h.body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');
  expect(await gitDescribe(sb.deployPath)).toBe(`v${GOOD_VERSION}`);
  expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
  expect(await listToolsStdio(sb.deployPath)).toHaveLength(FIXTURE_TOOLS);
  // The host's own .env came back after the checkout, byte for byte.
  expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toContain(`LIGHTDASH_API_KEY=${sb.secret}`);
}

describe('emergency rollback of the git-deployed MCP server, v1.20.2 → v1.11.4', () => {
  const modes: FailureMode[] = ['tools-missing', 'crash'];

  test.each(modes)('recovers from a bad release that is %s', async (mode) => {
    const sb = await suite.sandbox({ name: `em-${mode}`, badMode: mode });
    expect(await gitDescribe(sb.deployPath)).toBe(`v${BAD_VERSION}`);
    const started = await startRollback(suite.client, sb);
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    const record = result.record!;
    expect(record.status).toBe('succeeded');
    expect(record.fromVersion).toBe(`v${BAD_VERSION}`);
    expect(record.steps.every((s) => s.state === 'succeeded')).toBe(true);
    expect(record.steps.map((s) => s.id)).toEqual([
      'inspect',
      'resolve',
      'analyze',
      'incident',
      'backup',
      'stop',
      'checkout',
      'install',
      'restore-config',
      'start',
      'validate-health',
      'validate-mcp-http',
      'validate-mcp-stdio',
      'validate-latency',
      'rollback-log',
    ]);
    await expectRecovered(sb);
    const incident = readFileSync(join(sb.reportsDir, started.request.rollbackId, 'incident.md'), 'utf8');
    expect(incident).toContain('v1.20.2 is failing health checks');
    expect(incident).toContain('alice');
    const log = readFileSync(join(sb.reportsDir, 'rollback-log.md'), 'utf8');
    expect(log).toContain(`<!-- rollback:${started.request.rollbackId} -->`);
    expect(log).toContain('v1.20.2 → v1.11.4 (succeeded)');
  });

  test('the CLI runs an unhealthy release back to v1.11.4 with --wait and reports progress', async () => {
    const sb = await suite.sandbox({ name: 'em-cli', badMode: 'unhealthy' });
    expect((await health(sb.port)).status).toBe(503);
    const r = await runCli([
      '--config',
      sb.configFile,
      'start',
      'emergency',
      '--target',
      sb.target,
      '--reason',
      'health checks fail after v1.20.2',
      '--as',
      'bob',
      '--wait',
      '--task-queue',
      suite.taskQueue,
    ]);
    expect(r.stderr).toContain('web ui:');
    expect(r.stderr).toMatch(/✔ Check out v1\.11\.4/);
    expect(r.stderr).toMatch(/✔ Check MCP tools over stdio/);
    expect(r.stdout).toContain('Rollback succeeded.');
    expect(r.code).toBe(0);
    await expectRecovered(sb);

    const status = await runCli(['status', `rollback-${sb.target}`, '--json']);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as {
      workflowStatus: string;
      record: { requestedBy: string; steps: { attempts: number; durationMs: number }[] };
    };
    expect(parsed.workflowStatus).toBe('COMPLETED');
    expect(parsed.record.requestedBy).toBe('bob');
    expect(parsed.record.steps.every((s) => s.attempts >= 1 && s.durationMs >= 0)).toBe(true);

    const list = await runCli(['list', '--target', sb.target, '--json']);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as {
      workflowId: string;
      kind: string;
      toVersion: string;
      requestedBy: string;
    }[];
    expect(rows[0]).toMatchObject({
      workflowId: `rollback-${sb.target}`,
      kind: 'emergency',
      toVersion: 'v1.11.4',
      requestedBy: 'bob',
    });
    expect(existsSync(join(sb.reportsDir, 'rollback-log.md'))).toBe(true);

    // The canary secret from the target's .env is nowhere: not in the workflow history (payloads
    // searched as the raw bytes the server stores), not in the CLI's output, reports or pm2 logs.
    const history = await suite.client.client.workflow.getHandle(`rollback-${sb.target}`).fetchHistory();
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    expect(bytes.includes(Buffer.from('LIGHTDASH_URL'))).toBe(false);
    expect(bytes.includes(Buffer.from(sb.secret))).toBe(false);
    expect(bytes.includes(Buffer.from('.env'))).toBe(true); // the file is named, its content is not
    for (const text of [
      r.stdout,
      r.stderr,
      status.stdout,
      list.stdout,
      ...readTree(sb.reportsDir),
      ...readTree(join(sb.pm2Home, 'logs')),
    ]) {
      expect(text).not.toContain(sb.secret);
    }
  });
});

test('the command service manager: explicit start/stop/status argv drive the service through a rollback', async () => {
  const sb = await suite.sandbox({ name: 'em-command', badMode: 'unhealthy', manager: 'command' });
  expect((await health(sb.port)).status).toBe(503);
  const started = await startRollback(suite.client, sb);
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.steps.find((s) => s.id === 'stop')!.summary).toBe('stopped the service');
  // The command manager's start holds while `status` says running, until the service answered the
  // health check beside it or startGraceSeconds (default 1) passed, whichever came first.
  expect(record.steps.find((s) => s.id === 'start')!.summary).toMatch(
    /^started the service \((running for 1 s|running, and answered its health check after \d+ ms)\)$/,
  );
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
});
