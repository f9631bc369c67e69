import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pm2ListOverRpc } from '../src/activities/pm2-rpc';
import { parsePm2List } from '../src/activities/service';
import { pm2 } from './rig/sandbox';

/** A real pm2 daemon in a PM2_HOME of its own, asked over its socket and through its CLI. */
describe("the pm2 daemon's list over its socket", () => {
  const home = mkdtempSync(join(tmpdir(), 'rb-pm2-rpc-'));
  afterAll(() => {
    pm2(home, ['kill']);
    rmSync(home, { recursive: true, force: true });
  });

  test('with no daemon there is no answer (the caller then uses the CLI, which starts one)', async () => {
    expect(await pm2ListOverRpc(home)).toBeUndefined();
  });

  test('gives the processes `pm2 jlist` prints: names, status, restarts, script, cwd, uptime', async () => {
    expect(pm2(home, ['start', '/bin/sleep', '--name', 'rpc-sleeper', '--', '300']).status).toBe(0);
    const overRpc = (await pm2ListOverRpc(home)) as ReturnType<typeof parsePm2List>;
    const cli = parsePm2List(pm2(home, ['jlist']).stdout);
    expect(overRpc.map((p) => p.name)).toEqual(['rpc-sleeper']);
    const pick = (p: (typeof cli)[number]) => ({
      name: p.name,
      pid: p.pid,
      status: p.pm2_env?.status,
      restarts: p.pm2_env?.restart_time,
      script: p.pm2_env?.pm_exec_path,
      cwd: p.pm2_env?.pm_cwd,
      uptime: p.pm2_env?.pm_uptime,
    });
    expect(overRpc.map(pick)).toEqual(cli.map(pick));
    expect(pick(overRpc[0]!)).toMatchObject({ status: 'online', restarts: 0, script: '/bin/sleep' });
    expect(overRpc[0]!.pid).toBeGreaterThan(0);
  });

  test('a socket file nobody listens on, or a daemon that never answers, is no answer (not a hang)', async () => {
    const stale = mkdtempSync(join(tmpdir(), 'rb-pm2-stale-'));
    writeFileSync(join(stale, 'rpc.sock'), '');
    expect(await pm2ListOverRpc(stale)).toBeUndefined();

    const silent = mkdtempSync(join(tmpdir(), 'rb-pm2-silent-'));
    const server = createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => server.listen(join(silent, 'rpc.sock'), r));
    try {
      const t0 = Date.now();
      expect(await pm2ListOverRpc(silent, 300)).toBeUndefined();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    } finally {
      server.close();
      rmSync(stale, { recursive: true, force: true });
      rmSync(silent, { recursive: true, force: true });
    }
  });
});
