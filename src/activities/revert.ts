import { join } from 'node:path/posix';
import type { HostSpec } from '../model';
import { tail, type Host, type Runner, type RunResult } from '../runner/types';
import { cancellationSignal, done, heartbeat, permanent, type StepResult } from './common';
import type { ActivityDeps } from './deps';

/**
 * Reverting offending commits on a branch and pushing the result, for any target whose source lives
 * in git (an ECS service's complete rollback, a git-deployed one's). Works in a throwaway clone, so
 * no deployed working copy is touched; never forces a push.
 */

export interface RevertInput {
  /** The repository to clone and push to (any URL or path git accepts)... */
  remoteUrl?: string;
  /** ...or a working copy on this host whose remote `remote` names it. */
  repoPath?: string;
  remote?: string;
  branch: string;
  /** Commits to revert: full or abbreviated ids, or ranges `A..B` (A excluded, as in git). */
  commits: string[];
  /** Who the revert is by: `Name <email>` or a user name. */
  author: string;
  /** One commit with this message instead of git's own "Revert ..." commit per reverted commit. */
  message?: string;
}

export interface RevertResult extends Record<string, unknown> {
  /** The branch head after the revert (what to build and deploy). */
  commit: string;
  branch: string;
  /** Commits this call reverted (newest first). */
  reverted: string[];
  /** Commits the branch had already reverted (by an earlier attempt or someone else). */
  alreadyReverted: string[];
  pushed: boolean;
}

const COMMITISH = /^[0-9A-Za-z][0-9A-Za-z._/-]{0,199}$/;
const MAX_PUSH_ATTEMPTS = 4;

function identity(author: string): { name: string; email: string } {
  const m = /^\s*(.+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(author);
  if (m) return { name: m[1]!, email: m[2]! };
  const name = author.trim() || 'rollback-orchestrator';
  return { name, email: `${name.replace(/[^A-Za-z0-9._-]/g, '_')}@rollback-orchestrator.invalid` };
}

class Git {
  constructor(
    private readonly runner: Runner,
    private readonly cwd: string,
    private readonly env: Record<string, string>,
  ) {}

  run(args: string[], timeoutMs = 120_000): Promise<RunResult> {
    heartbeat({ git: args[0] });
    return this.runner.run(['git', '-C', this.cwd, ...args], {
      env: this.env,
      timeoutMs,
      // A large clone or push heartbeats while it runs, and stops when the step is cancelled.
      onTick: () => heartbeat({ git: args[0] }),
      signal: cancellationSignal(),
    });
  }

  async ok(args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')} failed: ${tail(r.stderr || r.stdout, 5)}`);
    return r.stdout.trim();
  }
}

/** `https://user:token@host/repo` → `https://***@host/repo`: a remote URL may carry credentials. */
export function scrubUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

/**
 * Reverts `commits` on `branch` of a repository and pushes; already reverted: nothing to do.
 * Error messages enter the workflow history, so credentials in remote URLs are scrubbed first.
 */
async function revertAndPush(input: RevertInput, host: Host): Promise<StepResult<RevertResult>> {
  try {
    return await revertAndPushUnscrubbed(input, host.runner);
  } catch (err) {
    if (err instanceof Error) err.message = scrubUrlCredentials(err.message);
    throw err;
  }
}

async function revertAndPushUnscrubbed(
  input: RevertInput,
  runner: Runner,
): Promise<StepResult<RevertResult>> {
  if (input.commits.length === 0) throw permanent('no commits to revert were given', 'RevertInput');
  for (const c of input.commits) {
    const parts = c.split('..');
    if (parts.length > 2 || !parts.every((p) => COMMITISH.test(p))) {
      throw permanent(`"${c}" is not a commit or a range A..B of commits`, 'RevertInput');
    }
  }
  const { name, email } = identity(input.author);
  const env = {
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: email,
    GIT_COMMITTER_NAME: name,
    GIT_COMMITTER_EMAIL: email,
  };

  let remoteUrl = input.remoteUrl;
  if (!remoteUrl) {
    if (!input.repoPath)
      throw permanent('revertAndPush needs remoteUrl, or repoPath and remote', 'RevertInput');
    const r = await new Git(runner, input.repoPath, env).run(['remote', 'get-url', input.remote ?? 'origin']);
    if (r.exitCode !== 0) {
      throw permanent(
        `${input.repoPath} has no git remote "${input.remote ?? 'origin'}" (${tail(r.stderr, 2)}); fix the target's remote`,
        'RevertInput',
      );
    }
    remoteUrl = r.stdout.trim();
  }

  // The throwaway clone lives where the command runs (this host, or the target's SSH host).
  const made = await runner.run(['mktemp', '-d', '-t', 'rollback-revert-XXXXXXXX'], { timeoutMs: 30_000 });
  const dir = made.stdout.trim();
  if (made.exitCode !== 0 || !dir.startsWith('/'))
    throw new Error(`cannot make a temporary folder for the revert: ${tail(made.stderr, 3)}`);
  try {
    const clone = await runner.run(
      [
        'git',
        'clone',
        '--quiet',
        '--no-tags',
        '--single-branch',
        '--branch',
        input.branch,
        remoteUrl,
        join(dir, 'repo'),
      ],
      { env, timeoutMs: 300_000 },
    );
    if (clone.exitCode !== 0) {
      const msg = tail(clone.stderr, 5);
      if (/Remote branch .* not found|not found in upstream/i.test(msg)) {
        throw permanent(
          `branch ${input.branch} does not exist in ${remoteUrl}; check the target's branch`,
          'RevertInput',
        );
      }
      throw new Error(`git clone ${remoteUrl} failed: ${msg}`);
    }
    const git = new Git(runner, join(dir, 'repo'), env);
    const upstream = `origin/${input.branch}`;

    // Which commits, newest first, and which of them the branch has not reverted yet.
    const wanted: string[] = [];
    for (const c of input.commits) {
      if (c.includes('..')) {
        const r = await git.run(['rev-list', c]);
        if (r.exitCode !== 0) {
          throw permanent(
            `range ${c} is not in ${remoteUrl} (branch ${input.branch}): ${tail(r.stderr, 2)}`,
            'RevertCommitNotFound',
          );
        }
        const list = r.stdout.split('\n').filter(Boolean);
        if (list.length === 0) throw permanent(`range ${c} holds no commits`, 'RevertInput');
        wanted.push(...list);
      } else {
        const r = await git.run(['rev-parse', '--verify', '--quiet', `${c}^{commit}`]);
        if (r.exitCode !== 0) {
          throw permanent(
            `commit ${c} is not in ${remoteUrl} (branch ${input.branch}); check the commit id`,
            'RevertCommitNotFound',
          );
        }
        wanted.push(r.stdout.trim());
      }
    }
    const order = (await git.ok(['rev-list', '--topo-order', upstream])).split('\n');
    const unique = [...new Set(wanted)];
    for (const c of unique) {
      if (!order.includes(c)) {
        throw permanent(
          `commit ${c.slice(0, 12)} is not on branch ${input.branch} of ${remoteUrl}`,
          'RevertCommitNotFound',
        );
      }
      const parents = (await git.ok(['rev-list', '--parents', '-n', '1', c])).split(' ').length - 1;
      if (parents > 1) {
        throw permanent(
          `commit ${c.slice(0, 12)} is a merge: name the commits it merged (a range), which revert cleanly`,
          'RevertMerge',
        );
      }
    }
    unique.sort((a, b) => order.indexOf(a) - order.indexOf(b));

    const revertedIn = async (c: string, rev: string) =>
      (await git.ok(['log', '--format=%H', '-F', `--grep=This reverts commit ${c}`, `${c}..${rev}`])) !== '';
    const short = (cs: string[]) => cs.map((c) => c.slice(0, 12)).join(', ');

    for (let attempt = 1; ; attempt++) {
      const pending: string[] = [];
      for (const c of unique) if (!(await revertedIn(c, 'HEAD'))) pending.push(c);
      if (pending.length > 0) {
        const revert = await git.run(
          input.message ? ['revert', '--no-commit', ...pending] : ['revert', '--no-edit', ...pending],
        );
        if (revert.exitCode !== 0) {
          await git.run(['revert', '--abort']);
          throw permanent(
            `git revert ${short(pending)} does not apply cleanly on ${input.branch}: ` +
              `${tail(revert.stderr || revert.stdout, 4)}; later commits changed the same lines, so revert by hand`,
            'RevertConflict',
          );
        }
        if (input.message) {
          // The trailer lines are what tells a later attempt that these commits are reverted.
          const trailer = pending.map((c) => `This reverts commit ${c}.`).join('\n');
          await git.ok(['commit', '--quiet', '-m', input.message, '-m', trailer]);
        }
      }

      const head = await git.ok(['rev-parse', 'HEAD']);
      const alreadyReverted: string[] = [];
      for (const c of unique) if (await revertedIn(c, upstream)) alreadyReverted.push(c);
      const reverted = unique.filter((c) => !alreadyReverted.includes(c));
      if (head === (await git.ok(['rev-parse', upstream]))) {
        return done(
          `${input.branch} already reverts ${short(unique)} (head ${head.slice(0, 12)}): nothing to do`,
          {
            commit: head,
            branch: input.branch,
            reverted: [],
            alreadyReverted,
            pushed: false,
          },
        );
      }

      const pushed = await git.run(
        ['push', '--porcelain', 'origin', `HEAD:refs/heads/${input.branch}`],
        300_000,
      );
      if (pushed.exitCode === 0) {
        return done(
          `reverted ${short(reverted)} on ${input.branch} and pushed ${head.slice(0, 12)}` +
            (attempt > 1 ? ` (after ${attempt - 1} rebase(s) onto a remote that moved)` : ''),
          { commit: head, branch: input.branch, reverted, alreadyReverted, pushed: true },
        );
      }
      const why = tail(pushed.stderr || pushed.stdout, 5);
      const moved =
        /\[rejected\]|\[remote rejected\]|non-fast-forward|fetch first|cannot lock ref|failed to update ref/i.test(
          `${pushed.stdout}\n${pushed.stderr}`,
        );
      if (!moved) throw new Error(`git push to ${remoteUrl} failed: ${why}`);
      if (attempt >= MAX_PUSH_ATTEMPTS) {
        throw permanent(
          `git push to ${input.branch} of ${remoteUrl} was rejected ${attempt} times (${why}); ` +
            'the branch keeps moving or is protected: push the revert by hand',
          'RevertPushRejected',
        );
      }
      // The remote moved: replay our revert on top of it (never force), then look again. A revert
      // someone else pushed meanwhile makes ours empty, and the rebase drops it.
      const rebase = await git.run(['pull', '--quiet', '--rebase', 'origin', input.branch]);
      if (rebase.exitCode !== 0) {
        await git.run(['rebase', '--abort']);
        throw permanent(
          `the revert no longer applies after ${input.branch} moved on the remote: ${tail(rebase.stderr || rebase.stdout, 4)}; revert by hand`,
          'RevertConflict',
        );
      }
    }
  } finally {
    await runner.run(['rm', '-rf', '--', dir], { timeoutMs: 60_000 });
  }
}

/** Complete rollbacks: revert the offending commits and push, in a throwaway clone. */
export function revertActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    revertAndPush: (input: RevertInput, on?: HostSpec) =>
      deps.onHost(on, (host) => revertAndPush(input, host)),
  };
}
