import { checkTargetPaths, ConfigError, getTarget, loadConfig } from '../targets/load';
import { isGitTarget, type GitTarget } from '../targets/kinds/git';
import type { BaseTarget } from '../targets/kinds';
import type { RollbackConfig } from '../targets/schema';

/**
 * A drill breaks its target on purpose, so it runs only on a target the config marks
 * `sandbox: true`, and only if no other (real) target shares its deployment.
 */

export interface DrillTarget {
  file: string;
  name: string;
  target: GitTarget;
  config: RollbackConfig;
}

function isSandbox(t: BaseTarget): boolean {
  return isGitTarget(t) && t.sandbox;
}

function serviceKey(t: GitTarget): string | null {
  return t.service.manager === 'pm2' ? `pm2:${t.service.pm2Home ?? '~'}:${t.service.name}` : null;
}

/** The target, if it may be drilled; a ConfigError naming what is wrong otherwise. Changes nothing. */
export function resolveDrillTarget(explicit: string | undefined, name: string): DrillTarget {
  const { file, config } = loadConfig(explicit);
  const target = getTarget({ file, config }, name);
  if (!isGitTarget(target)) {
    throw new ConfigError(
      `target "${name}": drills need a git-deployed target (deploy.type git), not ${target.deploy.type}`,
    );
  }
  if (target.host) {
    throw new ConfigError(
      `target "${name}" runs on another host: drills break and check a sandbox on the worker's own machine; drill a local sandbox copy`,
    );
  }
  if (!target.sandbox) {
    throw new ConfigError(
      `target "${name}" is not a sandbox: a drill breaks its target on purpose, so it runs only on a sandbox copy. ` +
        `Deploy a copy of the service, describe it as its own target with "sandbox: true" in ${file}, and drill that`,
    );
  }
  for (const [other, t] of Object.entries(config.targets)) {
    if (other === name || isSandbox(t) || !isGitTarget(t)) continue;
    const shared =
      t.deploy.path === target.deploy.path
        ? `deploy.path ${target.deploy.path}`
        : serviceKey(t) !== null && serviceKey(t) === serviceKey(target)
          ? `the pm2 process ${target.service.manager === 'pm2' ? target.service.name : ''}`
          : t.backupDir === target.backupDir
            ? `backupDir ${target.backupDir}`
            : null;
    if (shared) {
      throw new ConfigError(
        `sandbox target "${name}" shares ${shared} with target "${other}", which is not a sandbox; a drill must never touch a real deployment`,
      );
    }
  }
  const problems = checkTargetPaths(name, target);
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return { file, name, target, config };
}
