import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * The Unix user SSH tests log in as (scripts/test-deploy-user.sh makes it once, as root): not the
 * user running the tests, so a rollback over SSH is seen to act with the login's rights, on files the
 * login owns. Without root there is no second user: `separate` is false and the tests log in as
 * themselves (they say so).
 */
export interface DeployUser {
  name: string;
  home: string;
  uid: number;
  gid: number;
  /** pm2 as the host has it (argv); empty when the tests run as that user (our own pm2 is used). */
  pm2: string[];
  separate: boolean;
  /** Runs argv as the user (runuser), in its home; returns stdout, throws with stderr on failure. */
  run(argv: string[], env?: Record<string, string>): string;
  /** Gives the user everything under `path`. */
  own(path: string): void;
}

let cached: DeployUser | undefined;

export function deployUser(): DeployUser {
  if (cached) return cached;
  const line = execFileSync('bash', [join(__dirname, '..', '..', 'scripts', 'test-deploy-user.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const field = (name: string) => new RegExp(`${name}=(\\S*)`).exec(line)?.[1] ?? '';
  const name = field('DEPLOY_USER');
  const separate = field('SEPARATE') === '1';
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  const home = field('DEPLOY_HOME');
  const run = (argv: string[], env: Record<string, string> = {}) => {
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const full = separate
      ? ['runuser', '-u', name, '--', 'env', `HOME=${home}`, ...envArgs, ...argv]
      : ['env', ...envArgs, ...argv];
    // Not npm's settings of whoever ran the tests (npx sets npm_config_cache to their cache).
    const own = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
    const r = spawnSync(full[0]!, full.slice(1), {
      encoding: 'utf8',
      cwd: home,
      env: separate ? own : process.env,
    });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} as ${name} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  };
  cached = {
    name,
    home,
    uid,
    gid,
    pm2: field('PM2') ? ['node', field('PM2')] : [],
    separate,
    run,
    own: (path) => {
      if (separate) execFileSync('chown', ['-R', `${uid}:${gid}`, path]);
    },
  };
  return cached;
}
