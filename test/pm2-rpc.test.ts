import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pm2ListOverRpc } from '../src/activities/pm2-rpc';
import { parsePm2List, serviceActivities } from '../src/activities/service';
import { localRunner } from '../src/runner/local';
import type { Host } from '../src/runner/types';
import { pm2 } from './rig/sandbox';

/**
 * The worker's own machine, whose commands are counted: a stop over the daemon's socket runs none
 * (each pm2 command is a Node start-up); with no daemon, the stop runs pm2's CLI as before.
 */
function countingHost(): { host: Host; commands: string[][] } {
  const commands: string[][] = [];
  const runner = { run: (argv: string[], o?: object) => (commands.push(argv), localRunner.run(argv, o)) };
  return { host: { local: true, label: 'local', runner } as unknown as Host, commands };
}

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

  test('stopService stops a pm2 process over the socket, no pm2 command run; again, or an unknown name, succeeds', async () => {
    expect(pm2(home, ['start', '/bin/sleep', '--name', 'rpc-stop-me', '--', '300']).status).toBe(0);
    const pid = parsePm2List(pm2(home, ['jlist']).stdout).find((p) => p.name === 'rpc-stop-me')!.pid;
    const { host, commands } = countingHost();
    const { stopService } = serviceActivities({ onHost: (_on, work) => work(host) });
    const service = (name: string) => ({
      service: {
        manager: 'pm2' as const,
        name,
        script: '/bin/sleep',
        args: ['300'],
        env: {},
        pm2Home: home,
        startGraceSeconds: 1,
      },
      cwd: home,
    });
    const first = await stopService(service('rpc-stop-me'));
    expect(first).toMatchObject({ summary: 'pm2 process rpc-stop-me stopped', data: { before: 'known' } });
    const after = parsePm2List(pm2(home, ['jlist']).stdout).find((p) => p.name === 'rpc-stop-me');
    expect(after?.pm2_env?.status).toBe('stopped');
    expect(() => process.kill(pid, 0)).toThrow(); // the process is gone
    expect((await stopService(service('rpc-stop-me'))).data).toEqual({ before: 'known' });
    expect((await stopService(service('rpc-nobody'))).data).toEqual({ before: 'absent' });
    expect(commands).toEqual([]);
  });

  test('with no daemon, stopService runs pm2 stop (which starts one) and reports the name unknown', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'rb-pm2-fresh-'));
    try {
      const { host, commands } = countingHost();
      const { stopService } = serviceActivities({ onHost: (_on, work) => work(host) });
      const r = await stopService({
        service: {
          manager: 'pm2',
          name: 'nobody',
          script: 'x.js',
          args: [],
          env: {},
          pm2Home: fresh,
          startGraceSeconds: 1,
        },
        cwd: fresh,
      });
      expect(r.data).toEqual({ before: 'absent' });
      expect(commands.map((argv) => argv.slice(-2))).toEqual([['stop', 'nobody']]);
    } finally {
      pm2(fresh, ['kill']);
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  test('startService restarts a stopped, registered process over the socket with its configured env; one that dies at once fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-pm2-app-'));
    writeFileSync(
      join(dir, 'app.js'),
      "require('fs').writeFileSync(process.env.OUT, process.env.FLAG || ''); if (process.env.DIE) process.exit(1); setInterval(() => {}, 1000);\n",
    );
    const out = join(dir, 'flag.txt');
    const register = pm2(home, ['start', join(dir, 'app.js'), '--name', 'rpc-app', '--cwd', dir], {
      OUT: out,
      FLAG: 'v1',
    });
    expect(register.status).toBe(0);
    expect(pm2(home, ['stop', 'rpc-app']).status).toBe(0);
    const { host, commands } = countingHost();
    const { startService } = serviceActivities({ onHost: (_on, work) => work(host) });
    const service = (env: Record<string, string>) => ({
      service: {
        manager: 'pm2' as const,
        name: 'rpc-app',
        script: 'app.js',
        args: [],
        env,
        pm2Home: home,
        startGraceSeconds: 1,
      },
      cwd: dir,
    });
    const started = await startService(service({ OUT: out, FLAG: 'v2' }));
    expect(started.summary).toMatch(
      /^started pm2 process rpc-app from .*app\.js \(up 1 s with no restart\)$/,
    );
    expect(started.data).toEqual({ before: 'stopped' });
    expect(readFileSync(out, 'utf8')).toBe('v2');
    expect(parsePm2List(pm2(home, ['jlist']).stdout).find((p) => p.name === 'rpc-app')?.pm2_env?.status).toBe(
      'online',
    );

    expect(pm2(home, ['stop', 'rpc-app']).status).toBe(0);
    await expect(startService(service({ OUT: out, FLAG: 'v3', DIE: '1' }))).rejects.toThrow(
      /pm2 process rpc-app did not stay up/,
    );
    expect(commands).toEqual([]);
    pm2(home, ['delete', 'rpc-app']);
    rmSync(dir, { recursive: true, force: true });
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
