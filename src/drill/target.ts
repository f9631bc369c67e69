import { readFileSync } from 'node:fs';
import { parseDocument, stringify } from 'yaml';
import { checkTargetPaths, ConfigError, findConfigFile, getTarget, parseConfig } from '../targets/load';
import type { AnyTargetConfig, RollbackConfig, TargetConfig } from '../targets/schema';

/**
 * A drill breaks its target on purpose, so it runs only on a target the config marks
 * `sandbox: true`, and only if no other (real) target shares its deployment.
 */

export interface DrillTarget {
  file: string;
  name: string;
  target: TargetConfig;
  config: RollbackConfig;
}

type RawConfig = { targets?: Record<string, Record<string, unknown> | null> } | null;

/**
 * Loads the config like every command does. Until the schema knows `sandbox`, a config that uses
 * it would be refused as having an unknown field; the field is read from the YAML and the rest
 * validated without it.
 */
export function loadDrillConfig(explicit?: string): {
  file: string;
  config: RollbackConfig;
  sandboxes: Set<string>;
} {
  const file = findConfigFile(explicit);
  const text = readFileSync(file, 'utf8');
  const raw = parseDocument(text).toJS() as RawConfig;
  const sandboxes = new Set(
    Object.entries(raw?.targets ?? {})
      .filter(([, t]) => t && t.sandbox === true)
      .map(([name]) => name),
  );
  let config: RollbackConfig;
  try {
    config = parseConfig(text, file);
  } catch (err) {
    if (!(err instanceof ConfigError) || !/unknown fields? [^\n]*"sandbox"/.test(err.message)) throw err;
    const stripped = structuredClone(raw) as { targets: Record<string, Record<string, unknown>> };
    for (const t of Object.values(stripped.targets)) if (t) delete t.sandbox;
    config = parseConfig(stringify(stripped), file);
  }
  // Once the schema has the field, the parsed config is the authority.
  for (const [name, t] of Object.entries(config.targets)) {
    const flag = (t as { sandbox?: unknown }).sandbox;
    if (flag === true) sandboxes.add(name);
    else if (flag === false) sandboxes.delete(name);
  }
  return { file, config, sandboxes };
}

function isGitTarget(t: AnyTargetConfig): t is TargetConfig {
  return t.deploy.type === 'git';
}

function serviceKey(t: TargetConfig): string | null {
  return t.service.manager === 'pm2' ? `pm2:${t.service.pm2Home ?? '~'}:${t.service.name}` : null;
}

/** The target, if it may be drilled; a ConfigError naming what is wrong otherwise. Changes nothing. */
export function resolveDrillTarget(explicit: string | undefined, name: string): DrillTarget {
  const { file, config, sandboxes } = loadDrillConfig(explicit);
  const any = getTarget({ file, config }, name);
  if (!sandboxes.has(name)) {
    throw new ConfigError(
      `target "${name}" is not a sandbox: a drill breaks its target on purpose, so it runs only on a sandbox copy. ` +
        `Deploy a copy of the service, describe it as its own target with "sandbox: true" in ${file}, and drill that`,
    );
  }
  if (!isGitTarget(any)) {
    throw new ConfigError(
      `target "${name}": drills need a git-deployed target (deploy.type git), not ${any.deploy.type}`,
    );
  }
  const target = any;
  for (const [other, t] of Object.entries(config.targets)) {
    if (other === name || sandboxes.has(other) || !isGitTarget(t)) continue;
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
