import { join } from 'node:path/posix';
import {
  cacheContentPath,
  dependencyFindings,
  diffLocks,
  parseLockFile,
  type LockFile,
} from '../analysis/dependencies';
import { documentedKeys, envCheckFindings, envKeys } from '../analysis/env-keys';
import { migrationFindings, migrationPathspecs } from '../analysis/migrations';
import {
  applyAcceptances,
  blockingFindings,
  countFindings,
  refusalMessage,
  sortFindings,
  type AnalysisResult,
  type Finding,
} from '../model/analysis';
import type { HostSpec } from '../model';
import type { Host, Runner } from '../runner/types';
import { done, permanent, type StepResult } from './common';
import type { ActivityDeps } from './deps';

/**
 * The pre-flight analysis of a git-deployed service: what the rollback changes, read from both
 * versions in the deployed working copy (git objects only: nothing is checked out, fetched or
 * written). Findings name packages, keys and files, never an env value.
 */

export interface AnalysisCommon {
  /** The target's name, for the refusal's "targets.NAME.analysis.accept". */
  target: string;
  /** Block findings the request (`--accept`) or the config accepts. */
  accept: string[];
  /** Return every finding without refusing (`rollback plan`, which only shows them). */
  report?: boolean;
}

export interface GitAnalysisInput extends AnalysisCommon {
  path: string;
  /** The commit that runs (the inspect step's). */
  from: string;
  /** Emergency: the commit rolled back to. */
  to?: string;
  /** Complete: the commits reverted (ids, or A..B ranges). */
  commits?: string[];
  lockFile: string;
  /** The install command: `npm ci` must find every tarball in the cache or go to the registry. */
  install: string[];
  /** The host's env file, relative to the path; none: no env check. */
  envFile?: string;
  /** Emergency: where the env file saved with the target release would come from (it wins). */
  releaseConfigPath?: string;
  envExamples: string[];
  migrations: string[];
}

async function git(runner: Runner, path: string, args: string[]) {
  return runner.run(['git', '-C', path, ...args], { timeoutMs: 60_000 });
}

/** A file's text at a commit, or null when the commit has no such file. */
async function showFile(runner: Runner, path: string, commit: string, file: string): Promise<string | null> {
  const r = await git(runner, path, ['show', `${commit}:${file}`]);
  return r.exitCode === 0 ? r.stdout : null;
}

async function lockAt(runner: Runner, input: GitAnalysisInput, commit: string): Promise<LockFile | null> {
  const text = await showFile(runner, input.path, commit, input.lockFile);
  if (text === null) return null;
  try {
    return parseLockFile(text);
  } catch {
    return null;
  }
}

async function documentedAt(runner: Runner, input: GitAnalysisInput, commit: string) {
  for (const file of input.envExamples) {
    const text = await showFile(runner, input.path, commit, file);
    if (text !== null) return { file, ...documentedKeys(text) };
  }
  return null;
}

const short = (c: string) => c.slice(0, 12);

/** The commits a range or id names, newest first; unknown ones are reported, not fatal. */
async function expandCommits(runner: Runner, path: string, commits: string[]) {
  const found: string[] = [];
  const missing: string[] = [];
  for (const c of commits) {
    const r = c.includes('..')
      ? await git(runner, path, ['rev-list', c])
      : await git(runner, path, ['rev-parse', '--verify', '--quiet', `${c}^{commit}`]);
    if (r.exitCode !== 0 || !r.stdout.trim()) missing.push(c);
    else found.push(...r.stdout.split('\n').filter(Boolean));
  }
  return { found: [...new Set(found)], missing };
}

async function commitLines(runner: Runner, path: string, args: string[]): Promise<string[]> {
  const r = await git(runner, path, ['log', '--format=%h %an: %s', ...args]);
  return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

/** Migration files added between two commits (present in `newer`, absent in `older`). */
async function addedMigrations(runner: Runner, input: GitAnalysisInput, older: string, newer: string) {
  const files: { path: string; glob: string }[] = [];
  if (input.migrations.length === 0) return files;
  const r = await git(runner, input.path, [
    'diff',
    '--name-only',
    '--no-renames',
    '--diff-filter=A',
    older,
    newer,
    '--',
    ...migrationPathspecs(input.migrations),
  ]);
  for (const path of r.stdout.split('\n').filter(Boolean)) {
    const glob = input.migrations.find((g) => path.startsWith(g.split('*')[0]!)) ?? input.migrations[0]!;
    files.push({ path, glob });
  }
  return files;
}

/** `cache=` of an .npmrc, if it sets one (`~/` is the login's home). */
async function npmrcCache(host: Host, file: string, home: string): Promise<string | undefined> {
  if (!(await host.files.stat(file))) return undefined;
  const m = /^\s*cache\s*=\s*(.+?)\s*$/m.exec((await host.files.read(file)).toString('utf8'));
  return m?.[1]?.replace(/^~(?=\/)/, home);
}

/**
 * npm's cache folder as npm finds it for this service: npm_config_cache, the project's .npmrc, the
 * login's ~/.npmrc, else ~/.npm. Read from the files, not `npm config get cache`: a node start-up
 * would double the analysis's time.
 */
async function npmCacheDir(host: Host, path: string): Promise<string | undefined> {
  const r = await host.runner.run(['sh', '-c', 'printf "%s\\n%s" "$HOME" "${npm_config_cache:-}"'], {
    timeoutMs: 10_000,
  });
  const [home = '', fromEnv = ''] = r.stdout.split('\n');
  if (fromEnv) return fromEnv;
  if (!home.startsWith('/')) return undefined;
  return (
    (await npmrcCache(host, join(path, '.npmrc'), home)) ??
    (await npmrcCache(host, join(home, '.npmrc'), home)) ??
    join(home, '.npm')
  );
}

/** Whether `npm ci` will find every tarball of the lock in the host's npm cache. */
async function cacheFindings(host: Host, input: GitAnalysisInput, lock: LockFile): Promise<Finding[]> {
  if (input.install[0] !== 'npm') return [];
  const cacheDir = await npmCacheDir(host, input.path);
  if (!cacheDir?.startsWith('/')) {
    return [{ id: 'deps:cache', severity: 'info', title: 'could not read the npm cache folder on the host' }];
  }
  const paths = [...lock.packages.values()]
    .map((p) => (p.integrity ? cacheContentPath(cacheDir, p.integrity) : null))
    .filter((p): p is string => p !== null);
  let missing = 0;
  for (let i = 0; i < paths.length; i += 32) {
    const batch = await Promise.all(paths.slice(i, i + 32).map((p) => host.files.stat(p)));
    missing += batch.filter((s) => !s).length;
  }
  return missing > 0
    ? [
        {
          id: 'deps:network',
          severity: 'warn',
          title: `${input.install.join(' ')} must download ${missing} of ${paths.length} packages: the registry must be reachable from the host`,
        },
      ]
    : [
        {
          id: 'deps:cache',
          severity: 'info',
          title: `the npm cache on the host holds all ${paths.length} packages: the install needs no network`,
        },
      ];
}

/** Key names of the env file the rollback starts the service with (the release's saved one wins). */
async function presentKeys(host: Host, input: GitAnalysisInput) {
  const envFile = input.envFile!;
  const candidates = [
    ...(input.releaseConfigPath
      ? [{ file: join(input.releaseConfigPath, envFile), where: `the ${envFile} saved with the release` }]
      : []),
    { file: join(input.path, envFile), where: `the host's ${envFile}` },
  ];
  for (const c of candidates) {
    if (await host.files.stat(c.file))
      return { keys: envKeys((await host.files.read(c.file)).toString('utf8')), where: c.where };
  }
  return null;
}

async function envCheck(
  host: Host,
  input: GitAnalysisInput,
  documented: { file: string; required: string[]; optional: string[] } | null,
  label: string,
): Promise<Finding[]> {
  if (!input.envFile) return [];
  const present = documented ? await presentKeys(host, input) : null;
  return envCheckFindings({
    envFile: input.envFile,
    envExamples: input.envExamples,
    documented,
    present,
    label,
  });
}

/** Emergency: what runs → the release rolled back to. */
async function analyzeCheckout(host: Host, input: GitAnalysisInput, to: string): Promise<Finding[]> {
  const { runner } = host;
  const label = `${short(input.from)} → ${short(to)}`;
  const [fromLock, toLock, documented, migrations, undone] = await Promise.all([
    lockAt(runner, input, input.from),
    lockAt(runner, input, to),
    documentedAt(runner, input, to),
    addedMigrations(runner, input, to, input.from),
    commitLines(runner, input.path, ['--reverse', `${to}..${input.from}`]),
  ]);
  const findings: Finding[] = [];
  if (!fromLock || !toLock) {
    findings.push({
      id: 'deps',
      severity: 'warn',
      title: `no readable ${input.lockFile} at ${!toLock ? short(to) : short(input.from)}: the dependency diff is unknown`,
    });
  } else {
    findings.push(...dependencyFindings(diffLocks(fromLock, toLock), label));
  }
  const [cache, env] = await Promise.all([
    toLock ? cacheFindings(host, input, toLock) : Promise.resolve([]),
    envCheck(host, input, documented, 'the target version'),
  ]);
  findings.push(...cache, ...env);
  findings.push(...migrationFindings(migrations, `after ${short(to)} (in the running version)`));
  if (undone.length > 0) {
    findings.push({
      id: 'commits',
      severity: 'info',
      title: `${undone.length} commit(s) in the running version are not in the target`,
      details: undone.slice(-20),
    });
  }
  return findings;
}

/** Complete: each reverted commit's own changes, undone. */
async function analyzeRevert(host: Host, input: GitAnalysisInput, commits: string[]): Promise<Finding[]> {
  const { runner } = host;
  const { found, missing } = await expandCommits(runner, input.path, commits);
  const findings: Finding[] = missing.map((c) => ({
    id: `commit:${c}`,
    severity: 'warn' as const,
    title: `${c} is not in the deployed working copy: its changes were not analysed`,
  }));
  if (found.length === 0) return findings;
  const lines = await commitLines(runner, input.path, ['--no-walk=unsorted', ...found]);
  findings.push({
    id: 'commits',
    severity: 'info',
    title: `${found.length} commit(s) reverted`,
    details: lines,
  });
  // Each commit against its parent: the revert undoes exactly that.
  const changes = [];
  const migrations: { path: string; glob: string }[] = [];
  let documented = await documentedAt(runner, input, input.from);
  for (const c of found) {
    const parent = `${c}^`;
    const [before, after, docBefore, docAfter, added] = await Promise.all([
      lockAt(runner, input, parent),
      lockAt(runner, input, c),
      documentedAt(runner, input, parent),
      documentedAt(runner, input, c),
      addedMigrations(runner, input, parent, c),
    ]);
    if (before && after) changes.push(...diffLocks(after, before));
    migrations.push(...added);
    // Keys the commit added are no longer expected; keys it removed are expected again.
    if (documented && docBefore && docAfter) {
      const addedKeys = docAfter.required.filter((k) => !docBefore.required.includes(k));
      const removedKeys = docBefore.required.filter((k) => !docAfter.required.includes(k));
      documented = {
        ...documented,
        required: [...documented.required.filter((k) => !addedKeys.includes(k)), ...removedKeys],
        optional: [...documented.optional, ...addedKeys],
      };
    }
  }
  findings.push(...dependencyFindings(changes, `the reverted commits' lock changes, undone`));
  findings.push(...(await envCheck(host, input, documented, 'the reverted head')));
  findings.push(...migrationFindings(migrations, 'by a reverted commit'));
  return findings;
}

/** The analysis findings, with the acceptances applied; refuses on a block nobody accepted. */
export function concludeAnalysis(findings: Finding[], common: AnalysisCommon): StepResult<AnalysisResult> {
  const all = sortFindings(applyAcceptances(findings, common.accept));
  const blocking = blockingFindings(all);
  if (blocking.length > 0 && !common.report) {
    throw permanent(refusalMessage(blocking, common.target), 'AnalysisBlocked', { findings: all });
  }
  return done(countFindings(all), { findings: all });
}

export async function analyzeGitRollback(
  input: GitAnalysisInput,
  host: Host,
): Promise<StepResult<AnalysisResult>> {
  const findings = input.commits?.length
    ? await analyzeRevert(host, input, input.commits)
    : await analyzeCheckout(host, input, input.to ?? input.from);
  return concludeAnalysis(findings, input);
}

export function analysisActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    analyzeGitRollback: (input: GitAnalysisInput, on?: HostSpec) =>
      deps.onHost(on, (host) => analyzeGitRollback(input, host)),
  };
}
