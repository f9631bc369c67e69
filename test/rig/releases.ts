/**
 * Releases of the lightdash-mcp fixture side by side, for the validation tests: one real git
 * remote with a release per failure mode, the good one deployed with `npm ci --offline`, the others
 * checked out next to it sharing its node_modules (same lock file contents), and servers started
 * as real child processes on a port they choose themselves (PORT=0) and report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { eventually, GiveUp } from './eventually';
import { createFixtureRemote, deployWorkingCopy, git, GOOD_TAG, type FailureMode } from './fixture-repo';
import { scratchRoot, waitForHttp } from './sandbox';

export const RELEASE_TAGS: Record<string, FailureMode> = {
  'v1.30.0': 'tools-missing',
  'v1.31.0': 'probe-error',
  'v1.32.0': 'crash',
  'v1.33.0': 'slow',
  'v1.34.0': 'warmup',
};

export { ALL_TOOLS } from './fixture-repo';

export interface Releases {
  root: string;
  secret: string;
  /** Working copy per tag (GOOD_TAG, v1.20.2 and every RELEASE_TAGS key). */
  paths: Record<string, string>;
  cleanup(): void;
}

export async function buildReleases(name: string): Promise<Releases> {
  const root = mkdtempSync(join(scratchRoot(), `rb-${name}-`));
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  try {
    const { remote } = await createFixtureRemote({
      dir: join(root, 'git'),
      extraTags: Object.entries(RELEASE_TAGS).map(([tag, failureMode]) => ({ tag, failureMode })),
    });
    const secret = `canary-${randomBytes(12).toString('hex')}`;
    const env = `LIGHTDASH_API_KEY=${secret}\n`;
    const good = join(root, GOOD_TAG);
    await deployWorkingCopy({ remote, path: good, ref: GOOD_TAG, env: { LIGHTDASH_API_KEY: secret } });
    const paths: Record<string, string> = { [GOOD_TAG]: good };
    for (const tag of ['v1.20.2', ...Object.keys(RELEASE_TAGS)]) {
      const path = join(root, tag);
      await git(['clone', '--quiet', '--no-checkout', remote, path], root);
      await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', tag], path);
      symlinkSync(join(good, 'node_modules'), join(path, 'node_modules'));
      writeFileSync(join(path, '.env'), env, { mode: 0o600 });
      paths[tag] = path;
    }
    return { root, secret, paths, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

export interface FixtureServer {
  port: number;
  url: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * The fixture's HTTP server as a child process, on a port it binds itself (PORT=0) and reports in its
 * first log line; resolves once it answers /health there.
 */
export async function startFixtureServer(
  cwd: string,
  env: Record<string, string> = {},
): Promise<FixtureServer> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !['LIGHTDASH_API_KEY', 'SLOW_MS', 'WARMUP_MS', 'PORT', 'MCP_INSTANCE_NAME'].includes(k),
    ),
  ) as Record<string, string>;
  const child = spawn(process.execPath, ['server.js'], {
    cwd,
    env: { ...clean, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
  };
  try {
    const port = await eventually(
      `the fixture in ${cwd} to report its port`,
      () => {
        if (child.exitCode !== null) throw new GiveUp(`it exited ${child.exitCode}: ${err.trim()}`);
        return Number(/listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(out)?.[1]);
      },
      15_000,
    );
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/health`, 15_000);
    return { port, url, child, stdout: () => out, stderr: () => err, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
