import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './errors';
import { targetKinds, type BaseTarget, type TargetKinds } from './kinds';
import { configSchema, type RollbackConfig } from './schema';

export { ConfigError } from './errors';

export interface LoadedConfig {
  file: string;
  config: RollbackConfig;
}

/** `--config`, then `ROLLBACK_CONFIG`, then `./rollback.yaml`. */
export function findConfigFile(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): string {
  const chosen = explicit ?? env.ROLLBACK_CONFIG;
  if (chosen) {
    const file = resolve(cwd, chosen);
    if (!existsSync(file)) {
      throw new ConfigError(
        `config file ${file} does not exist (from ${explicit ? '--config' : 'ROLLBACK_CONFIG'}); point it at your rollback.yaml`,
      );
    }
    return file;
  }
  for (const name of ['rollback.yaml', 'rollback.yml']) {
    const file = resolve(cwd, name);
    if (existsSync(file)) return file;
  }
  throw new ConfigError(
    `no rollback.yaml in ${cwd}; pass --config FILE or set ROLLBACK_CONFIG (see README, "Configuration")`,
  );
}

function formatPath(path: PropertyKey[]): string {
  return path.length === 0 ? '(top level)' : path.map((p) => String(p)).join('.');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove ${issue.keys.length > 1 ? 'them' : 'it'} or check the spelling`;
  }
  if (issue.code === 'invalid_union' && 'discriminator' in issue) {
    return `${issue.message}: set "manager" to pm2 or command`;
  }
  return issue.message;
}

export function parseConfig(text: string, file: string, kinds: TargetKinds = targetKinds): RollbackConfig {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos?.[0]
      ? `line ${first.linePos[0].line}, column ${first.linePos[0].col}`
      : 'unknown position';
    throw new ConfigError(
      `${file}: malformed YAML at ${where}: ${first.message.split('\n')[0]}; fix the YAML syntax there`,
    );
  }
  const raw: unknown = doc.toJS();
  const result = configSchema(kinds).safeParse(raw ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - at ${formatPath(i.path)}: ${describeIssue(i)}`);
    throw new ConfigError(`${file}: invalid rollback config:\n${lines.join('\n')}`);
  }
  return result.data;
}

export function loadConfig(explicit?: string, kinds: TargetKinds = targetKinds): LoadedConfig {
  const file = findConfigFile(explicit);
  return { file, config: parseConfig(readFileSync(file, 'utf8'), file, kinds) };
}

export function getTarget(loaded: LoadedConfig, name: string): BaseTarget {
  const target = loaded.config.targets[name];
  if (!target) {
    const known = Object.keys(loaded.config.targets).join(', ');
    throw new ConfigError(`unknown target "${name}" in ${loaded.file}; known targets: ${known}`);
  }
  return target;
}

/** Read-only checks of the world a target names, run before anything is started. */
export function checkTargetPaths(
  name: string,
  target: BaseTarget,
  kinds: TargetKinds = targetKinds,
): string[] {
  return kinds.preflight(name, target);
}
