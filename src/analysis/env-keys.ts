import type { Finding } from '../model/analysis';

/**
 * Env keys a version expects against the env file the rollback starts it with. Only key names
 * are read from either file: a value never leaves this module.
 */

const KEY_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/;
const COMMENTED_KEY = /^\s*#\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/;

/** The key names set in a .env file. */
export function envKeys(text: string): string[] {
  const keys = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const m = KEY_LINE.exec(line);
    if (m) keys.add(m[1]!);
  }
  return [...keys];
}

/**
 * What an example file (.env.example) documents: `KEY=` lines are required, `# KEY=` lines are
 * optional (known to the version, not needed to start it).
 */
export function documentedKeys(text: string): { required: string[]; optional: string[] } {
  const required = envKeys(text);
  const optional = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const m = COMMENTED_KEY.exec(line);
    if (m && !required.includes(m[1]!)) optional.add(m[1]!);
  }
  return { required, optional: [...optional] };
}

/**
 * A required key the env file lacks blocks (the version would start without it); a key the
 * version does not document only warns (it is ignored, or a leftover of the newer release).
 */
export function envFindings(
  documented: { required: string[]; optional: string[] },
  present: string[],
  where: string,
): Finding[] {
  const have = new Set(present);
  const known = new Set([...documented.required, ...documented.optional]);
  const findings: Finding[] = documented.required
    .filter((k) => !have.has(k))
    .map((k) => ({
      id: `env:${k}`,
      severity: 'block' as const,
      title: `${k} is required by the target version but missing from ${where}`,
    }));
  for (const k of present.filter((x) => !known.has(x))) {
    findings.push({
      id: `env-unknown:${k}`,
      severity: 'warn',
      title: `${k} in ${where} is not documented by the target version`,
    });
  }
  if (findings.length === 0) {
    findings.push({
      id: 'env',
      severity: 'info',
      title: `${where} has every key the target version documents (${documented.required.length} required)`,
    });
  }
  return findings;
}

/**
 * The env check of a rollback: what the target version documents (null: it documents nothing)
 * against the key names of the env file it will start with (null: there is none).
 */
export function envCheckFindings(opts: {
  envFile: string;
  envExamples: readonly string[];
  documented: { file: string; required: string[]; optional: string[] } | null;
  present: { keys: string[]; where: string } | null;
  label: string;
}): Finding[] {
  const { documented, present, label } = opts;
  if (!documented) {
    return [
      {
        id: 'env',
        severity: 'info',
        title: `${label} documents no env keys (none of ${opts.envExamples.join(', ')}): env keys not checked`,
      },
    ];
  }
  if (!present) {
    return [
      {
        id: 'env-file',
        severity: documented.required.length > 0 ? 'block' : 'info',
        title: `no ${opts.envFile} on the host, and ${label} requires ${documented.required.length} key(s) (${documented.file})`,
      },
    ];
  }
  return envFindings(documented, present.keys, present.where);
}
