import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { isAddressInUse, PortInUseError } from '../src/temporal/dev-server';
import { eventually } from './rig/eventually';
import { withFreshPort } from './rig/ports';
import { ROOT, runCli } from './rig/rollback';

const stateDir = mkdtempSync(join(tmpdir(), 'rb-dev-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

interface Dev {
  child: ChildProcess;
  exited: Promise<number | null>;
  info: { address: string; webUi: string; worker: boolean };
}

/** `rollback dev --port PORT`, until it prints its JSON line; a port taken meanwhile is a PortInUseError. */
async function startDev(port: number): Promise<Dev> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'rollback.js'), 'dev', '--state-dir', stateDir, '--port', String(port), '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const said = await eventually(
      'rollback dev to print where it runs, or to exit',
      (): { exitCode: number } | { line: string } | false =>
        child.exitCode !== null
          ? { exitCode: child.exitCode }
          : stdout.includes('\n') && { line: stdout.slice(0, stdout.indexOf('\n')) },
      120_000,
    );
    if ('line' in said) return { child, exited, info: JSON.parse(said.line) as Dev['info'] };
    const message = `rollback dev exited ${said.exitCode}: ${stderr}`;
    throw isAddressInUse(stderr) ? new PortInUseError(message) : new Error(message);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

test('rollback dev starts a server on a SQLite file with the Web UI and a polling worker, and Ctrl-C stops both', async () => {
  // Its UI listens at port + 1000: both are reserved, and a port taken meanwhile costs a retry.
  const { value, reservation } = await withFreshPort('rollback dev', startDev, { offsets: [1000] });
  const { child, exited, info } = value;
  const port = reservation.port;
  try {
    expect(info).toMatchObject({
      address: `127.0.0.1:${port}`,
      webUi: `http://127.0.0.1:${port + 1000}`,
      worker: true,
    });
    expect(existsSync(join(stateDir, 'temporal.sqlite'))).toBe(true);
    // The file keeps a write-ahead log beside it (synchronous=normal by default).
    expect(existsSync(join(stateDir, 'temporal.sqlite-wal'))).toBe(true);
    expect((await fetch(info.webUi)).status).toBe(200);

    const conn = await Connection.connect({ address: info.address });
    try {
      const sa = await conn.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(Object.keys(sa.customAttributes ?? {})).toEqual(
        expect.arrayContaining([
          'RollbackTarget',
          'RollbackKind',
          'RollbackFromVersion',
          'RollbackToVersion',
          'RollbackRequestedBy',
        ]),
      );
      const tq = await conn.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: 'rollback-orchestrator' },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      expect(tq.pollers?.length ?? 0).toBeGreaterThan(0);
    } finally {
      await conn.close();
    }

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port + 1000}`)).rejects.toThrow();
  } finally {
    child.kill('SIGKILL');
    reservation.release();
  }
});

test('rollback dev --sqlite-sync other than normal or full exits 2 naming both, and starts nothing', async () => {
  const fresh = mkdtempSync(join(tmpdir(), 'rb-dev-sync-'));
  try {
    const r = await runCli(['dev', '--state-dir', fresh, '--sqlite-sync', 'sometimes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--sqlite-sync sometimes: give normal or full');
    expect(existsSync(join(fresh, 'temporal.sqlite'))).toBe(false);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});
