import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pm2LogFiles } from '../../src/activities/logs';
import { parsePm2List } from '../../src/activities/service';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';
import { freshFetch } from '../../src/runner/local-host';
import { Cleanup } from './cleanup';
import { eventually } from './eventually';
import {
  BAD_TAG,
  createFixtureRemote,
  deployWorkingCopy,
  type ExtraTag,
  type FailureMode,
} from './fixture-repo';
import { withFreshPort, type PortReservation } from './ports';

export const FIXTURE_TOOLS = 13;
const SERVICE_CTL = join(__dirname, '..', 'fixtures', 'service-ctl.sh');

export interface Sandbox {
  root: string;
  remote: string;
  /** The scratch clone the remote's history was built in (push more releases from here). */
  work: string;
  deployPath: string;
  pm2Home: string;
  port: number;
  target: string;
  configFile: string;
  backupDir: string;
  reportsDir: string;
  /** The canary: must never appear in history, logs or reports. */
  secret: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export interface SandboxOptions {
  name: string;
  badMode?: FailureMode;
  /** Overrides the target's install argv (e.g. to make `npm ci` fail). */
  install?: string[];
  /** Deploy and start the bad release (default true). */
  startBad?: boolean;
  /** More releases on top of v1.20.2, pushed to the remote. */
  extraTags?: ExtraTag[];
  /** Edits the rollback.yaml before it is written: `config` is the whole file, `target` this target. */
  configure?: (target: Record<string, any>, config: Record<string, any>) => void;
  /** pm2 (default), or the `command` manager driving test/fixtures/service-ctl.sh. */
  manager?: 'pm2' | 'command';
  /** Where the sandbox's folder is made (default: the run's scratch folder). */
  parentDir?: string;
}

/** Runs the project's pm2 against a sandbox's own daemon. */
export function pm2(pm2Home: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [require.resolve('pm2/bin/pm2'), ...args], {
    env: { ...process.env, PM2_HOME: pm2Home, ...env },
    encoding: 'utf8',
  });
}

/** The pid of the sandbox's service under pm2 (0 when absent): a restart changes it. */
export function pm2Pid(sb: { pm2Home: string; target: string }): number {
  const r = pm2(sb.pm2Home, ['jlist']);
  return parsePm2List(r.stdout).find((p) => p.name === `lightdash-${sb.target}`)?.pid ?? 0;
}

export function pm2Status(pm2Home: string, name: string): string {
  const r = pm2(pm2Home, ['jlist']);
  return parsePm2List(r.stdout).find((p) => p.name === name)?.pm2_env?.status ?? 'absent';
}

/** Where sandboxes live: under the run's folder (swept by globalTeardown), else the temp folder. */
export function scratchRoot(): string {
  const root = process.env.ROLLBACK_TEST_ROOT;
  return root && existsSync(root) ? root : tmpdir();
}

/**
 * A deployed service to roll back: a real git remote with v1.11.4 (good) and v1.20.2 (bad), a
 * working copy on v1.20.2 with dependencies installed by `npm ci` from the local npm cache, its
 * .env holding a canary secret, running under a pm2 daemon of its own, and a rollback.yaml.
 * Everything it starts is stopped again if it fails half way; else by `cleanup()`.
 */
export async function createSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const root = mkdtempSync(join(opts.parentDir ?? scratchRoot(), `rb-${opts.name}-`));
  const cleanup = new Cleanup();
  cleanup.add(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  let reservation: PortReservation | undefined;
  cleanup.add('release the service port', () => reservation?.release());
  try {
    const { remote, work } = await createFixtureRemote({
      dir: join(root, 'git'),
      badMode: opts.badMode ?? 'unhealthy',
      extraTags: opts.extraTags,
    });
    const deployPath = join(root, 'srv', 'lightdash-mcp');
    mkdirSync(join(root, 'srv'), { recursive: true });
    const secret = `canary-${randomBytes(12).toString('hex')}`;
    const env = { LIGHTDASH_API_KEY: secret, LIGHTDASH_URL: 'https://lightdash.example.invalid' };
    await deployWorkingCopy({ remote, path: deployPath, ref: BAD_TAG, env });
    const pm2Home = join(root, 'pm2');
    const pidFile = join(root, 'service.pid');
    const target = opts.name;
    const name = `lightdash-${opts.name}`;
    const backupDir = join(root, 'backups');
    const reportsDir = join(root, 'reports');
    const configFile = join(root, 'rollback.yaml');
    const ctl = (verb: string, port: number) => [
      'bash',
      SERVICE_CTL,
      verb,
      deployPath,
      String(port),
      pidFile,
    ];
    cleanup.add('kill the pm2 daemon', () => existsSync(pm2Home) && pm2(pm2Home, ['kill']));
    cleanup.add('stop the command-managed service', () => existsSync(pidFile) && run(ctl('stop', 0)));

    const writeConfig = (port: number) => {
      const base = `http://127.0.0.1:${port}`;
      const pm2Service = { manager: 'pm2', name, script: 'server.js', env: { PORT: String(port) }, pm2Home };
      const commandService = {
        manager: 'command',
        start: ctl('start', port),
        stop: ctl('stop', port),
        status: ctl('status', port),
      };
      const config: Record<string, any> = {
        version: 1,
        targets: {
          [target]: {
            description: 'lightdash MCP server (test fixture)',
            deploy: {
              type: 'git',
              path: deployPath,
              remote: 'origin',
              stableVersion: 'v1.11.4',
              install: opts.install ?? ['npm', 'ci', '--offline', '--no-audit', '--no-fund'],
            },
            service: opts.manager === 'command' ? commandService : pm2Service,
            configFiles: ['.env', 'package.json', 'package-lock.json'],
            backupDir,
            reportsDir,
            validate: {
              health: { url: `${base}/health`, timeoutSeconds: 10 },
              mcp: {
                url: `${base}/mcp`,
                expectedTools: FIXTURE_TOOLS,
                probe: { tool: 'lightdash_list_projects', arguments: {} },
              },
              mcpStdio: { command: ['node', 'server.js', '--stdio'], expectedTools: FIXTURE_TOOLS },
              latency: { url: `${base}/health`, samples: 5, maxAverageMs: 2000 },
            },
          },
        },
      };
      opts.configure?.(config.targets[target] as Record<string, any>, config);
      writeFileSync(configFile, stringify(config));
    };

    // The port goes into rollback.yaml and is bound again by every restart, so it is chosen up
    // front; a port taken before the bad release binds it costs a new port, not the sandbox.
    const started = await withFreshPort(`the service of sandbox ${opts.name}`, async (port) => {
      writeConfig(port);
      if (opts.startBad === false) return port;
      const logs = opts.manager === 'command' ? [`${pidFile}.log`] : pm2LogFiles(name, pm2Home);
      if (opts.manager === 'command') run(ctl('start', port));
      else
        pm2(pm2Home, ['start', join(deployPath, 'server.js'), '--name', name, '--cwd', deployPath], {
          PORT: String(port),
        });
      // A release that crashes at start never listens: nothing to wait for.
      if (opts.badMode === 'crash') return port;
      try {
        await untilListening(name, port, logs);
      } catch (err) {
        if (opts.manager === 'command') run(ctl('stop', port));
        else pm2(pm2Home, ['delete', name]);
        for (const file of logs) rmSync(file, { force: true });
        throw err;
      }
      return port;
    });
    reservation = started.reservation;
    const port = started.value;
    return {
      root,
      remote,
      work,
      deployPath,
      pm2Home,
      port,
      target,
      configFile,
      backupDir,
      reportsDir,
      secret,
      env,
      cleanup: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}

function run(argv: string[]) {
  return spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
}

/**
 * Waits until the fixture says in its log that it listens on `port`, then until it answers there.
 * Its log, not an answer alone: another process on that port would answer too.
 */
export async function untilListening(what: string, port: number, logs: string[]): Promise<void> {
  const outcome = await eventually(
    `${what} to listen on port ${port} (or fail to bind it)`,
    () => {
      const text = logs.map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join('\n');
      if (isAddressInUse(text)) return 'port in use';
      return text.includes(`listening on http://127.0.0.1:${port} `) && 'listening';
    },
    20_000,
  );
  if (outcome === 'port in use') throw new PortInUseError(`${what} could not bind port ${port}`);
  await waitForHttp(`http://127.0.0.1:${port}/health`);
}

export async function health(
  port: number,
): Promise<{ status: number; body: { status?: string; version?: string } }> {
  const res = await freshFetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as { status?: string; version?: string } };
}

/** Waits until something answers HTTP at url (any status). */
export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  await eventually(
    `an answer at ${url}`,
    async () => !!(await fetch(url, { signal: AbortSignal.timeout(1000) })),
    timeoutMs,
  );
}
