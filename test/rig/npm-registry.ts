import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';
import { Cleanup } from './cleanup';
import { FIXTURE_SOURCE_DIR, type FailureMode } from './fixture-repo';
import { withFreshPort } from './ports';
import { installedTool, stopChild } from './tools';

const run = promisify(execFile);

/**
 * A real npm registry for npm-package targets: Verdaccio (scripts/install-verdaccio.sh puts it in
 * .tools), offline (no uplinks), on 127.0.0.1 and a port of its own, storage in a temp folder.
 * `publishFixture` publishes the lightdash-mcp stand-in as a version of its own, dependencies
 * bundled (the registry has no uplink to fetch them from).
 */
export interface TestRegistry {
  url: string;
  /** A userconfig for npm that names this registry and a token (Verdaccio takes any with publish: $all). */
  npmrc: string;
  /** Environment for npm commands aimed at this registry. */
  env: Record<string, string>;
  /**
   * `files`: more files in the release (relative path → text), e.g. `.env.example` or a migration.
   * `bare`: no dependencies at all (quick to publish and install; the server cannot run).
   */
  publishFixture(opts: {
    name: string;
    version: string;
    failureMode?: FailureMode;
    files?: Record<string, string>;
    bare?: boolean;
  }): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

const logs = new WeakMap<ChildProcess, string>();

async function launch(bin: string, dir: string, port: number): Promise<ChildProcess> {
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `storage: ${join(dir, 'storage')}`,
      'uplinks: {}',
      'packages:',
      "  '**':",
      '    access: $all',
      '    publish: $all',
      '    unpublish: $all',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [bin, '--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const add = (d: Buffer) => {
    log += d.toString();
    logs.set(child, log);
  };
  child.stdout!.on('data', add);
  child.stderr!.on('data', add);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw isAddressInUse(log)
        ? new PortInUseError(log.trim())
        : new Error(`verdaccio exited: ${log.trim()}`);
    }
    try {
      const res = await fetch(`${url}/-/ping`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return child;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`verdaccio did not answer on ${url} within 30 s: ${log.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startRegistry(): Promise<TestRegistry> {
  const cleanup = new Cleanup();
  try {
    const bin = installedTool('install-verdaccio.sh')('VERDACCIO');
    const dir = mkdtempSync(join(tmpdir(), 'rollback-registry-'));
    cleanup.add('the registry folder', () => rmSync(dir, { recursive: true, force: true }));
    const { value: child, reservation } = await withFreshPort('verdaccio', (port) => launch(bin, dir, port));
    cleanup.add('the registry port', () => reservation.release());
    cleanup.add('verdaccio', () => stopChild(child));
    const url = `http://127.0.0.1:${reservation.port}/`;
    const npmrc = join(dir, 'npmrc');
    writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${reservation.port}/:_authToken=rollback-test\n`);
    const env = { NPM_CONFIG_USERCONFIG: npmrc, NPM_CONFIG_REGISTRY: url };

    const publishFixture: TestRegistry['publishFixture'] = async ({
      name,
      version,
      failureMode = 'none',
      files = {},
      bare = false,
    }) => {
      const pkg = mkdtempSync(join(dir, 'pkg-'));
      for (const [rel, text] of Object.entries(files)) {
        mkdirSync(dirname(join(pkg, rel)), { recursive: true });
        writeFileSync(join(pkg, rel), text);
      }
      cpSync(join(FIXTURE_SOURCE_DIR, 'server.js'), join(pkg, 'server.js'));
      if (!bare) cpSync(join(FIXTURE_SOURCE_DIR, 'package-lock.json'), join(pkg, 'package-lock.json'));
      const manifest = JSON.parse(readFileSync(join(FIXTURE_SOURCE_DIR, 'package.json'), 'utf8')) as Record<
        string,
        unknown
      > & { dependencies: Record<string, string> };
      delete manifest.private;
      writeFileSync(
        join(pkg, 'package.json'),
        JSON.stringify(
          {
            ...manifest,
            name,
            version,
            bin: { [name.replace(/^@[^/]+\//, '')]: 'server.js' },
            ...(bare ? { dependencies: {} } : { bundleDependencies: Object.keys(manifest.dependencies) }),
          },
          null,
          2,
        ),
      );
      writeFileSync(join(pkg, 'release.json'), JSON.stringify({ failureMode }));
      // The fixture's dependencies come from the npm cache the project's own install filled.
      if (!bare)
        await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: pkg });
      await run('npm', ['publish', '--registry', url, '--loglevel=error'], {
        cwd: pkg,
        env: { ...process.env, ...env },
      });
      rmSync(pkg, { recursive: true, force: true });
    };

    return {
      url,
      npmrc,
      env,
      publishFixture,
      log: () => logs.get(child) ?? '',
      stop: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}
