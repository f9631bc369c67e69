import { join } from 'node:path/posix';
import type { HostSpec } from '../model';
import { tail, type Host, type HostFiles, type Runner } from '../runner/types';
import { done, permanent, retryable, type StepResult } from './common';
import type { ActivityDeps } from './deps';

async function git(runner: Runner, path: string, args: string[]) {
  return runner.run(['git', '-C', path, ...args], { timeoutMs: 120_000 });
}

async function gitOk(runner: Runner, path: string, args: string[]): Promise<string> {
  const r = await git(runner, path, args);
  if (r.exitCode !== 0)
    throw retryable(`git ${args.join(' ')} failed in ${path}: ${tail(r.stderr || r.stdout, 5)}`, 'GitFailed');
  return r.stdout.trim();
}

async function packageVersion(path: string, files: HostFiles): Promise<string | null> {
  try {
    const pkg = JSON.parse((await files.read(join(path, 'package.json'))).toString('utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : null;
  } catch {
    return null;
  }
}

export interface DeploymentInfo extends Record<string, unknown> {
  commit: string;
  tag: string | null;
  version: string;
  dirty: boolean;
}

/** What is deployed now: the commit, its exact tag if any, and package.json's version. */
export async function inspectGitDeployment(
  input: { path: string },
  { runner, files }: Host,
): Promise<StepResult<DeploymentInfo>> {
  const commit = await gitOk(runner, input.path, ['rev-parse', 'HEAD']);
  const tagRun = await git(runner, input.path, ['describe', '--tags', '--exact-match', 'HEAD']);
  const tag = tagRun.exitCode === 0 ? tagRun.stdout.trim() : null;
  const status = await gitOk(runner, input.path, ['status', '--porcelain', '--untracked-files=no']);
  const version = tag ?? (await packageVersion(input.path, files)) ?? commit.slice(0, 12);
  return done(`deployed: ${version} (${commit.slice(0, 12)})${status ? ', with local changes' : ''}`, {
    commit,
    tag,
    version,
    dirty: status.length > 0,
  });
}

async function fetchAndResolve(
  path: string,
  remote: string,
  ref: string,
  fetch: boolean,
  runner: Runner,
): Promise<string> {
  if (fetch) {
    const f = await git(runner, path, ['fetch', '--tags', '--force', '--prune', remote]);
    if (f.exitCode !== 0)
      throw retryable(`git fetch ${remote} failed in ${path}: ${tail(f.stderr, 5)}`, 'GitFailed');
  }
  const resolved = await git(runner, path, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  if (resolved.exitCode !== 0) {
    throw permanent(
      `${ref} is not a tag, branch or commit of ${path} or its remote ${remote}; check the version (git tag --list) and try again`,
      'RefNotFound',
    );
  }
  return resolved.stdout.trim();
}

export interface ResolveInput {
  path: string;
  remote: string;
  ref: string;
  /** What runs now (the inspect step's result): the version asked for must differ from it. */
  current?: { commit: string; dirty: boolean };
  /** Go on even when that version already runs (a redeploy of it). */
  force?: boolean;
}

/**
 * Finds the commit a version names, fetching from the remote first. Read-only: run before anything
 * is written, so a mistyped version, or the version already running, costs only an error message.
 */
export async function resolveGitRef(
  input: ResolveInput,
  runner: Runner,
): Promise<StepResult<{ commit: string; ref: string }>> {
  const commit = await fetchAndResolve(input.path, input.remote, input.ref, true, runner);
  if (input.current && input.current.commit === commit && !input.current.dirty && !input.force) {
    throw permanent(
      `${input.path} already runs ${input.ref} (${commit.slice(0, 12)}) with no local changes: nothing to roll back; ` +
        'name another version with --to, or redeploy this one with --force',
      'AlreadyOnVersion',
    );
  }
  return done(`${input.ref} is ${commit.slice(0, 12)} on ${input.remote}`, { commit, ref: input.ref });
}

export interface RevertCheckInput {
  path: string;
  remote: string;
  branch: string;
  /** Commits or ranges OLDER..NEWER, as `--commit` takes them. */
  commits: string[];
}

/**
 * Before a complete rollback writes or announces anything: the branch it pushes is on the remote,
 * and every commit it reverts is a commit of that branch (a range, not empty: OLDER..NEWER).
 * Read-only but for the fetch, which only adds objects and FETCH_HEAD to the working copy.
 */
export async function checkRevertCommits(
  input: RevertCheckInput,
  runner: Runner,
): Promise<StepResult<{ branchHead: string }>> {
  const { path, remote, branch } = input;
  const f = await git(runner, path, ['fetch', '--quiet', remote, `refs/heads/${branch}`]);
  if (f.exitCode !== 0) {
    if (/couldn't find remote ref|not our ref/i.test(f.stderr))
      throw permanent(
        `branch ${branch} is not on ${remote}: a complete rollback reverts on deploy.branch and pushes it; set deploy.branch to the branch the service is released from (git ls-remote --heads ${remote} lists them)`,
        'RevertInput',
      );
    throw retryable(`git fetch ${remote} ${branch} failed in ${path}: ${tail(f.stderr, 5)}`, 'GitFailed');
  }
  const head = await gitOk(runner, path, ['rev-parse', '--verify', 'FETCH_HEAD^{commit}']);
  for (const c of input.commits) {
    const parts = c.split('..');
    for (const p of parts) {
      const r = await git(runner, path, ['rev-parse', '--verify', '--quiet', `${p}^{commit}`]);
      if (r.exitCode !== 0)
        throw permanent(
          `${p} is not a commit of ${remote} (fetched ${branch}): give a commit of the branch (git log ${remote}/${branch})`,
          'RevertInput',
        );
      const on = await git(runner, path, ['merge-base', '--is-ancestor', r.stdout.trim(), head]);
      if (on.exitCode === 1)
        throw permanent(
          `${p} is not on ${branch} of ${remote}: a complete rollback reverts commits of the branch it pushes`,
          'RevertInput',
        );
      if (on.exitCode !== 0)
        throw retryable(`git merge-base failed in ${path}: ${tail(on.stderr, 3)}`, 'GitFailed');
    }
    if (parts.length === 2 && (await gitOk(runner, path, ['rev-list', '--count', c])) === '0') {
      throw permanent(
        `the range ${c} holds no commits: write it OLDER..NEWER (the commits after OLDER, up to NEWER)`,
        'RevertInput',
      );
    }
  }
  return done(`${input.commits.join(', ')} on ${branch} of ${remote} (head ${head.slice(0, 12)})`, {
    branchHead: head,
  });
}

/**
 * Checks out a tag, branch or commit (detached). Looks before it acts: if HEAD is already that
 * commit and the tree is clean it does nothing, so a retry after a crash is harmless. With
 * `discardLocalChanges`, changes to tracked files (a corrupted entry file, a hand-made hotfix) are
 * saved as a patch in `backupPath` and then discarded: an emergency rollback must end on exactly
 * the release's code.
 */
export async function checkoutRef(
  input: {
    path: string;
    remote: string;
    ref: string;
    fetch?: boolean;
    discardLocalChanges?: boolean;
    backupPath?: string;
  },
  { runner, files }: Host,
): Promise<StepResult<{ commit: string; previous: string; discarded: string[] }>> {
  const { path, remote, ref } = input;
  const commit = await fetchAndResolve(path, remote, ref, input.fetch !== false, runner);
  const previous = await gitOk(runner, path, ['rev-parse', 'HEAD']);
  const changed = (await gitOk(runner, path, ['status', '--porcelain', '--untracked-files=no']))
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  if (previous === commit && (changed.length === 0 || !input.discardLocalChanges)) {
    return done(`already at ${ref} (${commit.slice(0, 12)})`, { commit, previous, discarded: [] });
  }
  const args = ['checkout', '--quiet', '--detach', commit];
  if (input.discardLocalChanges && changed.length > 0) {
    if (input.backupPath) {
      const patch = join(input.backupPath, 'local-changes.patch');
      if (!(await files.stat(patch))) {
        const diff = await gitOk(runner, path, ['diff', 'HEAD', '--binary']);
        await files.mkdir(input.backupPath, 0o700);
        // Atomic: a crash mid-write must not leave a truncated patch that a retry then trusts.
        await files.writeAtomic(patch, diff + '\n', 0o600);
      }
    }
    args.splice(1, 0, '--force');
  }
  const co = await git(runner, path, args);
  if (co.exitCode !== 0) {
    throw permanent(
      `git checkout ${ref} failed in ${path}: ${tail(co.stderr, 5)}; commit or discard the local changes there, then retry`,
      'CheckoutFailed',
    );
  }
  const discarded = args.includes('--force') ? changed : [];
  return done(
    `checked out ${ref} (${commit.slice(0, 12)}), was ${previous.slice(0, 12)}` +
      (discarded.length
        ? `; discarded local changes to ${discarded.join(', ')} (saved as local-changes.patch)`
        : ''),
    { commit, previous, discarded },
  );
}

/** Whether git tracks `file` at HEAD (tracked files come from the checkout, not from a backup). */
export async function isTracked(path: string, file: string, runner: Runner): Promise<boolean> {
  const r = await git(runner, path, ['ls-files', '--error-unmatch', '--', file]);
  return r.exitCode === 0;
}

/** The git activities, running git where the target lives. */
export function gitActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    inspectGitDeployment: (input: { path: string }, on?: HostSpec) =>
      deps.onHost(on, (host) => inspectGitDeployment(input, host)),
    resolveGitRef: (input: ResolveInput, on?: HostSpec) =>
      deps.onHost(on, (host) => resolveGitRef(input, host.runner)),
    checkRevertCommits: (input: RevertCheckInput, on?: HostSpec) =>
      deps.onHost(on, (host) => checkRevertCommits(input, host.runner)),
    checkoutRef: (input: Parameters<typeof checkoutRef>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => checkoutRef(input, host)),
  };
}
