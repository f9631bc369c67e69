import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../src/temporal/dev-server';
import {
  BAD_TAG,
  createFixtureRemote,
  deployWorkingCopy,
  type ExtraTag,
  type FailureMode,
} from './fixture-repo';

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
  const list = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')) || '[]') as { name: string; pid: number }[];
  return list.find((p) => p.name === `lightdash-${sb.target}`)?.pid ?? 0;
}

export function pm2Status(pm2Home: string, name: string): string {
  const r = pm2(pm2Home, ['jlist']);
  const list = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')) || '[]') as {
    name: string;
    pm2_env: { status: string };
  }[];
  return list.find((p) => p.name === name)?.pm2_env.status ?? 'absent';
}

/**
 * A deployed service to roll back: a real git remote with v1.11.4 (good) and v1.20.2 (bad), a
 * working copy on v1.20.2 with dependencies installed by `npm ci` from the local npm cache, its
 * .env holding a canary secret, running under a pm2 daemon of its own, and a rollback.yaml.
 */
export async function createSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const root = mkdtempSync(join(tmpdir(), `rb-${opts.name}-`));
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
  const port = await freePort();
  const pm2Home = join(root, 'pm2');
  const target = opts.name;
  const backupDir = join(root, 'backups');
  const reportsDir = join(root, 'reports');
  const base = `http://127.0.0.1:${port}`;
  const pm2Service = {
    manager: 'pm2',
    name: `lightdash-${opts.name}`,
    script: 'server.js',
    env: { PORT: String(port) },
    pm2Home,
  };
  const ctl = (verb: string) => [
    'bash',
    SERVICE_CTL,
    verb,
    deployPath,
    String(port),
    join(root, 'service.pid'),
  ];
  const commandService = {
    manager: 'command',
    start: ctl('start'),
    stop: ctl('stop'),
    status: ctl('status'),
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
  const configFile = join(root, 'rollback.yaml');
  writeFileSync(configFile, stringify(config));
  if (opts.startBad !== false && opts.manager === 'command') {
    spawnSync(ctl('start')[0]!, ctl('start').slice(1));
    if (opts.badMode !== 'crash') await waitForHttp(`${base}/health`);
  } else if (opts.startBad !== false) {
    pm2(
      pm2Home,
      ['start', join(deployPath, 'server.js'), '--name', `lightdash-${opts.name}`, '--cwd', deployPath],
      {
        PORT: String(port),
      },
    );
    if (opts.badMode !== 'crash') await waitForHttp(`${base}/health`);
  }
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
    async cleanup() {
      pm2(pm2Home, ['kill']);
      spawnSync(ctl('stop')[0]!, ctl('stop').slice(1));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export async function health(
  port: number,
): Promise<{ status: number; body: { status?: string; version?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as { status?: string; version?: string } };
}

/** Waits until something answers HTTP at url (any status). */
export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing answered at ${url} within ${timeoutMs} ms`);
}
