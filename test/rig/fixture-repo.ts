/**
 * Git rig for the lightdash-mcp fixture: builds a real bare git remote with a
 * known-good and a known-bad release tag, and deploys working copies from it
 * the way a real host would (clone, checkout tag, npm ci, write .env).
 *
 * Every external command goes through execFile with an argv array: paths come
 * from mkdtemp and may contain anything, and no shell must ever see them.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The fixture's failure modes (server.js FAILURE_MODES). */
export type FailureMode =
  | 'none'
  | 'unhealthy'
  | 'tools-missing'
  | 'crash'
  | 'slow'
  | 'probe-error'
  | 'warmup'
  | 'errors'
  | 'dies-soon';

export interface ExtraTag {
  /** Tag name, e.g. `v1.21.0`. */
  tag: string;
  /** package.json version for the commit; defaults to the tag without its leading `v`. */
  version?: string;
  /** release.json failureMode for the commit; defaults to `none`. */
  failureMode?: FailureMode;
}

export interface CreateFixtureRemoteOptions {
  /** Scratch directory; `remote.git` and `work/` are created inside it. */
  dir: string;
  /** failureMode of the bad release (v1.20.2); defaults to `unhealthy`. */
  badMode?: FailureMode;
  /** Further releases committed and tagged, in order, on top of v1.20.2. */
  extraTags?: ExtraTag[];
}

export interface FixtureRemote {
  /** Absolute path of the bare repository; usable as a git URL. */
  remote: string;
  /** Absolute path of the scratch clone the history was built in. */
  work: string;
}

export interface DeployWorkingCopyOptions {
  remote: string;
  /** Must not exist yet (or be empty): it is created by `git clone`. */
  path: string;
  /** Tag, branch or commit to check out. */
  ref: string;
  /** Written to `<path>/.env`; no file is written when omitted. */
  env?: Record<string, string>;
}

/** The 13 tools of the lightdash MCP server, as the fixture registers them. */
export const ALL_TOOLS = [
  'lightdash_list_projects',
  'lightdash_get_project',
  'lightdash_list_spaces',
  'lightdash_list_charts',
  'lightdash_list_dashboards',
  'lightdash_get_custom_metrics',
  'lightdash_get_catalog',
  'lightdash_get_metrics_catalog',
  'lightdash_get_charts_as_code',
  'lightdash_get_dashboards_as_code',
  'lightdash_get_metadata',
  'lightdash_get_analytics',
  'lightdash_get_user_attributes',
];

export const FIXTURE_SOURCE_DIR = path.resolve(__dirname, '..', 'fixtures', 'lightdash-mcp');
export const GOOD_VERSION = '1.11.4';
export const BAD_VERSION = '1.20.2';
export const GOOD_TAG = `v${GOOD_VERSION}`;
export const BAD_TAG = `v${BAD_VERSION}`;

// Never copied into the repo: installed or runtime artefacts of a local run of the fixture.
const COPY_EXCLUDES = new Set(['node_modules', '.env', 'logs', 'release.json', '.git']);
const FIXTURE_GITIGNORE = '.env\nnode_modules/\nlogs/\n';
// The rig's "code change" in the bad release; server.js must contain it verbatim.
const BUILD_LABEL_GOOD = "const BUILD_LABEL = 'stable';";
const BUILD_LABEL_BAD = "const BUILD_LABEL = 'candidate';";

const GIT_TIMEOUT_MS = 30_000;
const NPM_CI_TIMEOUT_MS = 180_000;

/**
 * Environment for git: fixed identity so commits work on machines without a
 * global git config, and the user's/system config ignored so settings such as
 * commit.gpgSign or hooks paths cannot change what the rig builds.
 */
function gitEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_AUTHOR_NAME: 'Fixture Rig',
    GIT_AUTHOR_EMAIL: 'fixture-rig@example.invalid',
    GIT_COMMITTER_NAME: 'Fixture Rig',
    GIT_COMMITTER_EMAIL: 'fixture-rig@example.invalid',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
  };
}

async function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeout: number,
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      cwd,
      env,
      timeout,
      maxBuffer: 16 * 1024 * 1024,
      encoding: 'utf8',
    });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & {
      stderr?: string;
      stdout?: string;
      code?: unknown;
      signal?: string;
    };
    const detail = (e.stderr || e.stdout || e.message || '').trim();
    throw new Error(
      `${command} ${args.join(' ')} failed in ${cwd} (exit ${String(e.code)}${e.signal ? `, signal ${e.signal}` : ''}): ${detail}`,
      { cause: err },
    );
  }
}

/** Runs git with the rig's isolated environment and returns trimmed stdout. */
export async function git(args: string[], cwd: string): Promise<string> {
  const out = await run('git', ['-c', 'init.defaultBranch=main', ...args], cwd, gitEnv(), GIT_TIMEOUT_MS);
  return out.trim();
}

async function copyFixtureSource(dest: string): Promise<void> {
  await fs.cp(FIXTURE_SOURCE_DIR, dest, {
    recursive: true,
    filter: (src) => !COPY_EXCLUDES.has(path.basename(src)),
  });
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Sets the release version the way `npm version` would: package.json and both lock fields. */
async function setVersion(work: string, version: string): Promise<void> {
  const pkgFile = path.join(work, 'package.json');
  const pkg = await readJson(pkgFile);
  pkg.version = version;
  await writeJson(pkgFile, pkg);

  const lockFile = path.join(work, 'package-lock.json');
  const lock = await readJson(lockFile);
  lock.version = version;
  const packages = lock.packages as Record<string, Record<string, unknown>> | undefined;
  if (packages?.['']) packages[''].version = version;
  await writeJson(lockFile, lock);
}

async function setFailureMode(work: string, failureMode: FailureMode): Promise<void> {
  await writeJson(path.join(work, 'release.json'), { failureMode });
}

async function setBuildLabel(work: string, bad: boolean): Promise<void> {
  const file = path.join(work, 'server.js');
  const src = await fs.readFile(file, 'utf8');
  const [from, to] = bad ? [BUILD_LABEL_GOOD, BUILD_LABEL_BAD] : [BUILD_LABEL_BAD, BUILD_LABEL_GOOD];
  if (src.includes(to)) return;
  if (!src.includes(from)) {
    // Fail loudly: a silent no-op would make the bad release differ from the good one only in data.
    throw new Error(`fixture server.js no longer contains ${JSON.stringify(from)}; update the rig`);
  }
  await fs.writeFile(file, src.replace(from, to));
}

async function commitAndTag(work: string, tag: string, version: string): Promise<void> {
  await git(['add', '--all'], work);
  await git(['commit', '--quiet', '-m', `release ${version}`], work);
  await git(['tag', '-a', tag, '-m', `lightdash-mcp ${version}`], work);
}

/**
 * Builds `${dir}/remote.git` with history: v1.11.4 (healthy), v1.20.2 (badMode),
 * then any extraTags, all on `main`, pushed with their annotated tags.
 */
export async function createFixtureRemote(opts: CreateFixtureRemoteOptions): Promise<FixtureRemote> {
  const dir = path.resolve(opts.dir);
  const remote = path.join(dir, 'remote.git');
  const work = path.join(dir, 'work');
  await fs.mkdir(dir, { recursive: true });

  await git(['init', '--quiet', '--bare', remote], dir);
  await git(['init', '--quiet', work], dir);
  await git(['remote', 'add', 'origin', remote], work);

  await copyFixtureSource(work);
  await fs.writeFile(path.join(work, '.gitignore'), FIXTURE_GITIGNORE);
  await setBuildLabel(work, false);

  await setVersion(work, GOOD_VERSION);
  await setFailureMode(work, 'none');
  await commitAndTag(work, GOOD_TAG, GOOD_VERSION);

  await setVersion(work, BAD_VERSION);
  await setFailureMode(work, opts.badMode ?? 'unhealthy');
  await setBuildLabel(work, true);
  await commitAndTag(work, BAD_TAG, BAD_VERSION);

  for (const extra of opts.extraTags ?? []) {
    const version = extra.version ?? extra.tag.replace(/^v/, '');
    await setVersion(work, version);
    await setFailureMode(work, extra.failureMode ?? 'none');
    await commitAndTag(work, extra.tag, version);
  }

  await git(['push', '--quiet', 'origin', 'refs/heads/main:refs/heads/main', '--tags'], work);
  // Clones of a bare repo check out the remote HEAD; make sure it names main.
  await git(['symbolic-ref', 'HEAD', 'refs/heads/main'], remote);

  return { remote, work };
}

function renderDotEnv(env: Record<string, string>): string {
  let out = '';
  for (const [key, value] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`invalid .env key ${JSON.stringify(key)}`);
    // Deliberately no value in the message: these are secrets.
    if (/[\r\n]/.test(value)) throw new Error(`.env value for ${key} contains a newline`);
    out += `${key}=${value}\n`;
  }
  return out;
}

/** Clones `remote` into `path`, checks out `ref`, installs offline, writes `.env`. */
export async function deployWorkingCopy(opts: DeployWorkingCopyOptions): Promise<void> {
  const dest = path.resolve(opts.path);
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await git(['clone', '--quiet', '--no-checkout', opts.remote, dest], path.dirname(dest));
  await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', opts.ref], dest);

  // --offline: tests must not depend on the public registry; the root project's
  // install has already put every tarball of the fixture's lock into the cache.
  await run(
    'npm',
    ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'],
    dest,
    { ...process.env, npm_config_update_notifier: 'false' },
    NPM_CI_TIMEOUT_MS,
  );

  if (opts.env) {
    const file = path.join(dest, '.env');
    await fs.writeFile(file, renderDotEnv(opts.env), { mode: 0o600 });
    // writeFile's mode only applies on creation (and is masked by umask).
    await fs.chmod(file, 0o600);
  }
}

/** Full commit id checked out at `repoPath`. */
export async function gitHead(repoPath: string): Promise<string> {
  return git(['rev-parse', 'HEAD'], repoPath);
}

/** Tag pointing exactly at HEAD of `repoPath`, or null when HEAD is not tagged. */
export async function gitDescribe(repoPath: string): Promise<string | null> {
  try {
    return await git(['describe', '--tags', '--exact-match', 'HEAD'], repoPath);
  } catch {
    return null;
  }
}
