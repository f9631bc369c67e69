import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { Activities } from '../activities';
import { isTracked } from '../activities/git';
import { isEnvFile } from '../model';
import type { Runner } from '../runner/types';
import { ConfigError } from '../targets/errors';
import type { GitTarget } from '../targets/kinds/git';

/**
 * The ways a drill breaks a sandbox. Each one does to the deployment what a bad day does (a bad
 * release, a clobbered .env, damaged dependencies, a truncated entry file) and restarts the
 * service so the damage shows, as it would after a deploy or a reboot.
 */

export const DRILL_SCENARIOS = [
  'bad-release',
  'corrupted-env',
  'corrupted-node-modules',
  'corrupted-entry',
] as const;
export type DrillScenario = (typeof DRILL_SCENARIOS)[number];

export interface ScenarioOptions {
  /** bad-release: the release to deploy (default: the newest tag that is not the stable version). */
  badVersion?: string;
  /** corrupted-entry: the file to truncate (default: the pm2 service's script). */
  entry?: string;
}

export interface ScenarioContext {
  target: GitTarget;
  /** The rollback's own activities and runner: the drill breaks the sandbox with the same verbs. */
  activities: Activities;
  runner: Runner;
  /** The version the emergency rollback returns to. */
  toVersion: string;
  /** Whether the service answered healthy before the drill touched it. */
  baselineHealthy: boolean | null;
  options: ScenarioOptions;
  log: (line: string) => void;
}

export function parseScenario(name: string): DrillScenario {
  if (!(DRILL_SCENARIOS as readonly string[]).includes(name)) {
    throw new ConfigError(`unknown drill scenario "${name}"; use one of: ${DRILL_SCENARIOS.join(', ')}`);
  }
  return name as DrillScenario;
}

/** The target's env file (the first config file named like `.env`), relative to the deploy path. */
function envFileOf(target: GitTarget): string {
  const file = target.configFiles.find(isEnvFile);
  if (!file) {
    throw new ConfigError(
      "the corrupted-env drill needs an env file (like .env) in the target's configFiles",
    );
  }
  return file;
}

function entryOf(target: GitTarget, options: ScenarioOptions): string {
  const entry = options.entry ?? (target.service.manager === 'pm2' ? target.service.script : undefined);
  if (!entry) {
    throw new ConfigError(
      'the corrupted-entry drill needs --entry FILE for a service that is not managed by pm2',
    );
  }
  return isAbsolute(entry) ? entry : join(target.deploy.path, entry);
}

async function git(runner: Runner, path: string, args: string[]): Promise<string> {
  const r = await runner.run(['git', '-C', path, ...args], { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')} failed in ${path}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The newest release tag other than the stable one: the likeliest "bad release" to rehearse. */
async function defaultBadVersion(ctx: ScenarioContext): Promise<string> {
  const { target, toVersion, runner } = ctx;
  await git(runner, target.deploy.path, ['fetch', '--tags', '--force', target.deploy.remote]);
  const tags = (await git(runner, target.deploy.path, ['tag', '--list', '--sort=-v:refname']))
    .split('\n')
    .filter(Boolean);
  const bad = tags.find((t) => t !== toVersion);
  if (!bad)
    throw new ConfigError(
      `the bad-release drill needs a release other than ${toVersion}; pass --bad-version TAG`,
    );
  return bad;
}

/** Restarts the service so the damage takes effect; a service that no longer starts is the point. */
async function restart(ctx: ScenarioContext): Promise<string> {
  try {
    const r = await ctx.activities.restartService({
      service: ctx.target.service,
      cwd: ctx.target.deploy.path,
    });
    return r.summary;
  } catch (err) {
    return `restart failed as the damage intends: ${(err as Error).message.split('\n')[0]}`;
  }
}

/**
 * What must be in place before breaking, so the rollback can mend the damage. A corrupted .env is
 * restored from the release's saved config (`BACKUPS/releases/VERSION/`): the backup the rollback
 * takes at its start would be the corrupted file. If none is saved, the sandbox's current .env is
 * saved there, but only while the sandbox is healthy (else it cannot be trusted).
 */
export async function prepareScenario(scenario: DrillScenario, ctx: ScenarioContext): Promise<string> {
  if (scenario !== 'corrupted-env') return 'nothing to prepare';
  const { target, toVersion } = ctx;
  const envFile = envFileOf(target);
  if (await isTracked(target.deploy.path, envFile, ctx.runner)) {
    return `${envFile} is tracked by git: the checkout restores it`;
  }
  const saved = join(target.backupDir, 'releases', toVersion, envFile);
  if (existsSync(saved)) return `the release config of ${toVersion} is saved (${saved})`;
  if (ctx.baselineHealthy !== true) {
    throw new ConfigError(
      `the corrupted-env drill needs a known-good ${envFile} saved as ${saved}, and the sandbox is not healthy now, ` +
        `so its current ${envFile} cannot be trusted as one; save a good copy there first`,
    );
  }
  const source = join(target.deploy.path, envFile);
  if (!existsSync(source))
    throw new ConfigError(`the sandbox has no ${envFile} to save as the release config`);
  await mkdir(dirname(saved), { recursive: true, mode: 0o700 });
  await copyFile(source, saved);
  await chmod(saved, 0o600);
  return `saved the healthy sandbox's ${envFile} as the release config of ${toVersion} (${saved})`;
}

/** Breaks the sandbox; returns what was done, for the drill report. */
export async function breakTarget(scenario: DrillScenario, ctx: ScenarioContext): Promise<string> {
  const { target } = ctx;
  const path = target.deploy.path;
  switch (scenario) {
    case 'bad-release': {
      const bad = ctx.options.badVersion ?? (await defaultBadVersion(ctx));
      if (bad === ctx.toVersion) {
        throw new ConfigError(
          `--bad-version ${bad} is the version the rollback returns to; pick another release`,
        );
      }
      ctx.log(`deploying ${bad}`);
      const { checkoutRef, runInstall, runBuild } = ctx.activities;
      await checkoutRef({ path, remote: target.deploy.remote, ref: bad });
      await runInstall({ path, argv: target.deploy.install });
      if (target.deploy.build) await runBuild({ path, argv: target.deploy.build });
      return `deployed ${bad} (checkout, ${target.deploy.install.join(' ')}); ${await restart(ctx)}`;
    }
    case 'corrupted-env': {
      const envFile = envFileOf(target);
      const file = join(path, envFile);
      const mode = existsSync(file) ? (await stat(file)).mode & 0o777 : 0o600;
      await writeFile(file, '# overwritten by a rollback drill\nDRILL_CORRUPTED=1\n');
      await chmod(file, mode);
      return `overwrote ${envFile}; ${await restart(ctx)}`;
    }
    case 'corrupted-node-modules': {
      const pkg = JSON.parse(await readFile(join(path, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      const deps = Object.keys(pkg.dependencies ?? {});
      const garbled: string[] = [];
      for (const dep of deps) {
        const manifest = join(path, 'node_modules', dep, 'package.json');
        if (!existsSync(manifest)) continue;
        await writeFile(manifest, '{ "garbled by a rollback drill": ');
        garbled.push(dep);
      }
      if (garbled.length === 0) {
        throw new ConfigError(
          `${path}/node_modules holds none of the package's dependencies: nothing to corrupt`,
        );
      }
      return `garbled the package.json of ${garbled.length} dependencies in node_modules (${garbled.join(', ')}); ${await restart(ctx)}`;
    }
    case 'corrupted-entry': {
      const entry = entryOf(target, ctx.options);
      const size = (await stat(entry)).size;
      await truncate(entry, Math.floor(size / 2));
      return `truncated ${entry} from ${size} to ${Math.floor(size / 2)} bytes; ${await restart(ctx)}`;
    }
  }
}
