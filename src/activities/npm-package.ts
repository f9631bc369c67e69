import { join } from 'node:path/posix';
import type { HostSpec } from '../model';
import { tail, type Host } from '../runner/types';
import { done, permanent, retryable, type StepResult } from './common';
import { endOrphanedInstall, runGuarded } from './npm';
import type { ActivityDeps } from './deps';

/**
 * A service installed as an npm package (`npm install -g name@version`, into the global prefix or
 * a prefix of its own). The registry is the host's npm config unless the target names one; its
 * credentials stay in the host's npmrc, never in a plan. npm checks each tarball against the
 * integrity the registry publishes for that version.
 */

export interface NpmPackageRef {
  /** The package, e.g. `lightdash-mcp` or `@acme/lightdash-mcp`. */
  name: string;
  /** The install prefix (`npm install -g --prefix`); absent: the host's global prefix. */
  prefix?: string;
  /** A registry URL for this package; absent: the host's npm config. */
  registry?: string;
}

const NPM_TIMEOUT_MS = 15 * 60_000;

export function npmArgs(ref: NpmPackageRef): string[] {
  return [
    ...(ref.prefix ? ['--prefix', ref.prefix] : []),
    ...(ref.registry ? ['--registry', ref.registry] : []),
  ];
}

async function globalPrefix(host: Host, ref: NpmPackageRef): Promise<string> {
  const r = await host.runner.run(['npm', 'prefix', '-g', ...npmArgs(ref)], { timeoutMs: 60_000 });
  if (r.exitCode !== 0)
    throw retryable(`npm prefix -g failed on ${host.label}: ${tail(r.stderr, 5)}`, 'NpmFailed');
  return r.stdout.trim();
}

async function globalRoot(host: Host, ref: NpmPackageRef): Promise<string> {
  const r = await host.runner.run(['npm', 'root', '-g', ...npmArgs(ref)], { timeoutMs: 60_000 });
  if (r.exitCode !== 0)
    throw retryable(`npm root -g failed on ${host.label}: ${tail(r.stderr, 5)}`, 'NpmFailed');
  return r.stdout.trim();
}

/** The installed version, or null when the package is not installed under that prefix. */
async function installedVersion(
  host: Host,
  ref: NpmPackageRef,
): Promise<{ dir: string; version: string | null }> {
  const dir = join(await globalRoot(host, ref), ref.name);
  try {
    const pkg = JSON.parse((await host.files.read(join(dir, 'package.json'))).toString('utf8')) as {
      version?: unknown;
    };
    return { dir, version: typeof pkg.version === 'string' ? pkg.version : null };
  } catch {
    return { dir, version: null };
  }
}

/** What is installed now: the version and the folder it lives in. Read-only. */
export async function inspectNpmPackage(
  input: NpmPackageRef,
  host: Host,
): Promise<StepResult<{ version: string; dir: string }>> {
  const { dir, version } = await installedVersion(host, input);
  if (!version) {
    throw permanent(
      `${input.name} is not installed in ${dir} on ${host.label}; check deploy.package and deploy.prefix`,
      'PackageNotInstalled',
    );
  }
  return done(`installed: ${input.name}@${version} (${dir})`, { version, dir });
}

/** The version asked for exists in the registry (and is not the one installed). Read-only. */
export async function resolveNpmVersion(
  input: NpmPackageRef & { version: string; current?: string; force?: boolean },
  host: Host,
): Promise<StepResult<{ version: string; integrity: string | null; dependencies: Record<string, string> }>> {
  const spec = `${input.name}@${input.version.replace(/^v(?=\d)/, '')}`;
  const r = await host.runner.run(
    ['npm', 'view', spec, 'version', 'dist.integrity', 'dependencies', '--json', ...npmArgs(input)],
    {
      timeoutMs: 120_000,
    },
  );
  if (r.exitCode !== 0 || !r.stdout.trim()) {
    const why = tail(r.stderr || r.stdout, 5);
    if (
      /\bE?404\b|No match found|is not in this registry/i.test(why) ||
      (r.exitCode === 0 && !r.stdout.trim())
    ) {
      throw permanent(
        `${spec} is not in the registry${input.registry ? ` ${input.registry}` : ''}; check the version (npm view ${input.name} versions)`,
        'VersionNotFound',
      );
    }
    throw retryable(`npm view ${spec} failed on ${host.label}: ${why}`, 'NpmFailed');
  }
  const parsed = JSON.parse(r.stdout) as
    { version?: string; 'dist.integrity'?: string; dependencies?: Record<string, string> } | string;
  const version = typeof parsed === 'string' ? parsed : parsed.version;
  if (!version) throw permanent(`${spec}: the registry answered without a version`, 'VersionNotFound');
  if (input.current === version && !input.force) {
    throw permanent(
      `${input.name}@${version} is what is installed already; nothing to roll back (--force to reinstall it)`,
      'AlreadyOnVersion',
    );
  }
  const integrity = typeof parsed === 'string' ? null : (parsed['dist.integrity'] ?? null);
  const dependencies = typeof parsed === 'string' ? {} : (parsed.dependencies ?? {});
  return done(`${input.name}@${version} is in the registry`, { version, integrity, dependencies });
}

/**
 * Installs exactly `version`: nothing when it is installed already (a retry after a crash finds
 * it done), else `npm install -g name@version`, then checks what got installed.
 */
export async function installNpmPackage(
  input: NpmPackageRef & { version: string },
  host: Host,
): Promise<StepResult<{ version: string; dir: string; changed: boolean }>> {
  const version = input.version.replace(/^v(?=\d)/, '');
  // Run in the prefix with a pid file there: a worker or a connection that died mid-install
  // leaves its npm running, and the retry ends it before it looks at what is installed.
  const prefix = input.prefix ?? (await globalPrefix(host, input));
  const ended = await endOrphanedInstall(host, prefix);
  const before = await installedVersion(host, input);
  // An install cut short may have written the version's package.json and not the rest: again.
  if (before.version === version && ended === null) {
    return done(`${input.name}@${version} already installed`, { version, dir: before.dir, changed: false });
  }
  try {
    await runGuarded(
      'install',
      {
        path: prefix,
        argv: [
          'npm',
          'install',
          '-g',
          ...npmArgs(input),
          '--no-audit',
          '--no-fund',
          `${input.name}@${version}`,
        ],
        timeoutSeconds: NPM_TIMEOUT_MS / 1000,
      },
      host,
    );
  } catch (err) {
    const message = (err as Error).message;
    if (/EINTEGRITY/.test(message)) {
      throw permanent(
        `${input.name}@${version}: the tarball does not match the integrity the registry publishes: ${message}`,
        'IntegrityMismatch',
      );
    }
    throw err;
  }
  // The orphan, if any, was ended above (runGuarded finds no pid file after that).
  const orphan = ended !== null ? `(killed orphaned install ${ended} first)` : undefined;
  const after = await installedVersion(host, input);
  if (after.version !== version) {
    throw retryable(
      `npm install -g ${input.name}@${version} ended, but ${after.dir} holds ${after.version ?? 'nothing'}`,
      'NpmFailed',
    );
  }
  return done(
    `installed ${input.name}@${version} (was ${before.version ?? 'not installed'})${orphan ? ` ${orphan}` : ''}`,
    {
      version,
      dir: after.dir,
      changed: true,
    },
  );
}

export function npmPackageActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    inspectNpmPackage: (input: NpmPackageRef, on?: HostSpec) =>
      deps.onHost(on, (host) => inspectNpmPackage(input, host)),
    resolveNpmVersion: (input: Parameters<typeof resolveNpmVersion>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => resolveNpmVersion(input, host)),
    installNpmPackage: (input: Parameters<typeof installNpmPackage>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => installNpmPackage(input, host)),
  };
}
