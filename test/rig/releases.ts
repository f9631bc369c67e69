/**
 * Releases of the lightdash-mcp fixture side by side, for the validation tests: one real git
 * remote with a release per failure mode, the good one deployed with `npm ci --offline`, the others
 * checked out next to it sharing its node_modules (same lock file contents), and servers started
 * as real child processes on free ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../src/temporal/dev-server';
import { createFixtureRemote, deployWorkingCopy, git, GOOD_TAG, type FailureMode } from './fixture-repo';
import { waitForHttp } from './sandbox';

/** Failure modes the fixture knows beyond the rig's type (server.js FAILURE_MODES). */
export type AnyFailureMode = FailureMode | 'probe-error' | 'warmup';

export const RELEASE_TAGS: Record<string, AnyFailureMode> = {
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
  const root = mkdtempSync(join(tmpdir(), `rb-${name}-`));
  const { remote } = await createFixtureRemote({
    dir: join(root, 'git'),
    extraTags: Object.entries(RELEASE_TAGS).map(([tag, failureMode]) => ({
      tag,
      failureMode: failureMode as FailureMode,
    })),
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
  return { root, secret, paths, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface FixtureServer {
  port: number;
  url: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

/** The fixture's HTTP server as a child process; resolves once anything answers /health. */
export async function startFixtureServer(
  cwd: string,
  env: Record<string, string> = {},
  waitForAnswer = true,
): Promise<FixtureServer> {
  const port = await freePort();
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !['LIGHTDASH_API_KEY', 'SLOW_MS', 'WARMUP_MS', 'PORT', 'MCP_INSTANCE_NAME'].includes(k),
    ),
  ) as Record<string, string>;
  const child = spawn(process.execPath, ['server.js'], {
    cwd,
    env: { ...clean, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  if (waitForAnswer) await waitForHttp(`${url}/health`, 15_000);
  return {
    port,
    url,
    child,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
