import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { freePort } from '../src/temporal/dev-server';
import { ROOT } from './rig/rollback';

const stateDir = mkdtempSync(join(tmpdir(), 'rb-dev-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

test('rollback dev starts a server on a SQLite file with the Web UI and a polling worker, and Ctrl-C stops both', async () => {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'rollback.js'), 'dev', '--state-dir', stateDir, '--port', String(port), '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const info = await new Promise<{ address: string; webUi: string; worker: boolean }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!));
      });
      void exited.then((code) => reject(new Error(`rollback dev exited ${code}: ${stderr}`)));
    });
    expect(info).toMatchObject({
      address: `127.0.0.1:${port}`,
      webUi: `http://127.0.0.1:${port + 1000}`,
      worker: true,
    });
    expect(existsSync(join(stateDir, 'temporal.sqlite'))).toBe(true);
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
  }
});
