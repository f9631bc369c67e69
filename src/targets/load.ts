import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  openSync,
  readSync,
  statSync,
  type Stats,
} from 'node:fs';
import { resolve } from 'node:path';
import { isScalar, LineCounter, parseDocument, visit, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { oneLine } from '../model/text';
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
  return path.length === 0 ? '(top level)' : path.map((p) => oneLine(String(p))).join('.');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${oneLine(k)}"`).join(', ')}: remove ${issue.keys.length > 1 ? 'them' : 'it'} or check the spelling`;
  }
  if (issue.code === 'invalid_union' && 'discriminator' in issue) {
    const { discriminator, options } = issue as { discriminator: string; options?: unknown[] };
    const names = (options ?? []).map(String);
    const choices = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
    return `missing or unknown ${discriminator}: set "${discriminator}" to ${choices}`;
  }
  if (issue.code === 'invalid_key') {
    // zod says only "Invalid key in record"; the key's own rule says what is wrong with it.
    const key = issue.path[issue.path.length - 1];
    return `"${oneLine(String(key))}" is refused: ${issue.issues.map((i) => i.message).join('; ')}`;
  }
  return issue.message;
}

/** A rollback config is a page or two of YAML; anything larger is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function fileKind(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'a special file';
}

function refuseUnlessConfigFile(file: string, s: Stats): void {
  if (!s.isFile()) {
    throw new ConfigError(
      `config file ${file} is ${fileKind(s)}, not a regular file; point --config (or ROLLBACK_CONFIG) at your rollback.yaml`,
    );
  }
  if (s.size > MAX_CONFIG_BYTES) {
    throw new ConfigError(
      `config file ${file} is ${s.size} bytes; a rollback config is at most ${MAX_CONFIG_BYTES} bytes (1 MiB): point --config at your rollback.yaml`,
    );
  }
}

/**
 * Reads a config file, refusing anything but a regular file of at most 1 MiB before it is opened
 * (a FIFO would block the open forever, /dev/zero would fill the memory). It is checked again on
 * the open descriptor, so a file swapped in between cannot slip through.
 */
export function readConfigFile(file: string): string {
  try {
    return readBounded(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(
      `cannot read config file ${file} (${code}); check that it exists and that you may read it`,
    );
  }
}

function readBounded(file: string): string {
  refuseUnlessConfigFile(file, statSync(file));
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    refuseUnlessConfigFile(file, fstatSync(fd));
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let size = 0;
    for (let n = -1; n !== 0 && size < buf.length; size += n) {
      n = readSync(fd, buf, size, buf.length - size, null);
    }
    if (size > MAX_CONFIG_BYTES) {
      throw new ConfigError(`config file ${file} grew past ${MAX_CONFIG_BYTES} bytes while it was read`);
    }
    return buf.subarray(0, size).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function yamlProblem(file: string, error: YAMLError, text: string): ConfigError {
  const pos = error.linePos?.[0];
  const where = pos ? `line ${pos.line}, column ${pos.col}` : 'unknown position';
  if (error.code === 'DUPLICATE_KEY' && pos) {
    const line = text.split(/\r?\n/)[pos.line - 1] ?? '';
    const key = /^\s*(?:-\s+)?("[^"]*"|'[^']*'|[^:#]+?)\s*:/.exec(line.slice(pos.col - 1))?.[1];
    const name = key ? ` "${oneLine(key.replace(/^["']|["']$/g, ''))}"` : '';
    return new ConfigError(
      `${file}: duplicate key${name} at ${where}: a key may appear once in a mapping; keep one of them`,
    );
  }
  return new ConfigError(
    `${file}: malformed YAML at ${where}: ${oneLine(error.message.split('\n')[0] ?? '')}; fix the YAML syntax there`,
  );
}

/** The YAML's aliases (`*name`) may stand for at most this many nodes in all: no "billion laughs". */
const MAX_ALIAS_COUNT = 100;

export function parseConfig(text: string, file: string, kinds: TargetKinds = targetKinds): RollbackConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length > 0) throw yamlProblem(file, doc.errors[0]!, text);
  const at = (offset: number | undefined) => {
    const p = lines.linePos(offset ?? 0);
    return `line ${p.line}, column ${p.col}`;
  };
  // zod drops a `__proto__` key without a word, and a plain object cannot hold one safely.
  let protoKey: string | undefined;
  let firstAlias: string | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && String(pair.key.value) === '__proto__') {
        protoKey ??= at(pair.key.range?.[0]);
      }
    },
    Alias(_, alias) {
      firstAlias ??= at(alias.range?.[0]);
    },
  });
  if (protoKey) {
    throw new ConfigError(
      `${file}: "__proto__" at ${protoKey} cannot be a key (JavaScript objects reserve it, so it would be dropped); rename it`,
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const message = oneLine((err as Error).message);
    throw new ConfigError(
      /alias/i.test(message)
        ? `${file}: the YAML aliases from ${firstAlias ?? 'the start'} on expand to too much (${message}); ` +
            'write the values out instead of nesting aliases'
        : `${file}: cannot read the YAML (${message}); fix it there`,
    );
  }
  const result = configSchema(kinds).safeParse(raw ?? {});
  if (!result.success) {
    const issues = result.error.issues.map((i) => `  - at ${formatPath(i.path)}: ${describeIssue(i)}`);
    throw new ConfigError(`${file}: invalid rollback config:\n${issues.join('\n')}`);
  }
  return result.data;
}

export function loadConfig(explicit?: string, kinds: TargetKinds = targetKinds): LoadedConfig {
  const file = findConfigFile(explicit);
  return { file, config: parseConfig(readConfigFile(file), file, kinds) };
}

/** The named target; a name the config does not define (`toString` included) is an unknown target. */
export function getTarget(loaded: LoadedConfig, name: string): BaseTarget {
  const targets = loaded.config.targets;
  if (!Object.hasOwn(targets, name)) {
    const known = Object.keys(targets).join(', ');
    throw new ConfigError(`unknown target "${oneLine(name)}" in ${loaded.file}; known targets: ${known}`);
  }
  return targets[name]!;
}

/** Read-only checks of the world a target names, run before anything is started. */
export function checkTargetPaths(
  name: string,
  target: BaseTarget,
  kinds: TargetKinds = targetKinds,
): string[] {
  return kinds.preflight(name, target);
}
