/**
 * What a rollback would change, found before anything changes: the plan's `analyze` step reads
 * both versions (lock files, env keys, migrations, task definitions) and returns findings. Names
 * and versions only: an env value or a secret never becomes a finding.
 */

export type Severity = 'block' | 'warn' | 'info';

/** The plan's analysis step: read-only, among the checks that run before anything is written. */
export const ANALYZE_STEP = 'analyze';

/** What an `--accept` may name: a finding id, or `KIND:*`. */
export const FINDING_ID = /^[A-Za-z0-9._@/:*-]{1,200}$/;

export interface Finding extends Record<string, unknown> {
  /** Stable id, the one `--accept` and `analysis.accept` name: `migration:NAME`, `env:KEY`, ... */
  id: string;
  severity: Severity;
  /** One line for people. */
  title: string;
  /** More lines (package lists, commits), never values of env keys or secrets. */
  details?: string[];
  /** A block finding the request or the target's config accepted: it no longer refuses. */
  accepted?: true;
}

/** The analyze step's result data. */
export interface AnalysisResult extends Record<string, unknown> {
  findings: Finding[];
}

export const SEVERITY_ORDER: Severity[] = ['block', 'warn', 'info'];

/** The findings a step's result carries into the record: the analyze step's, else none. */
export function findingsOf(stepId: string, data: unknown): Finding[] | undefined {
  const findings = (data as { findings?: unknown } | undefined)?.findings;
  return stepId === ANALYZE_STEP && Array.isArray(findings) ? (findings as Finding[]) : undefined;
}

/**
 * Marks the block findings named in `accept` (ids, `KIND:*` for all of a kind, `*` for all) as
 * accepted.
 */
export function applyAcceptances(findings: Finding[], accept: readonly string[]): Finding[] {
  const matches = (id: string) =>
    accept.some((a) => a === '*' || a === id || (a.endsWith(':*') && id.startsWith(a.slice(0, -1))));
  return findings.map((f) => (f.severity === 'block' && matches(f.id) ? { ...f, accepted: true } : f));
}

/** The findings that refuse the rollback: block, not accepted. */
export function blockingFindings(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.severity === 'block' && !f.accepted);
}

/** Findings ordered block, warn, info (stable within a severity). */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity),
  );
}

/** `BLOCK migration:x  Migration ... (accepted)`: one line per finding, for plans, notices, reports. */
export function formatFinding(f: Finding): string {
  const tag = f.severity === 'block' ? (f.accepted ? 'block (accepted)' : 'BLOCK') : f.severity;
  return `${tag.padEnd(5)} ${f.id}: ${f.title}`;
}

/** A short count line: "2 findings: 1 block, 1 warn" or "no findings". */
export function countFindings(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'nothing to flag';
  const parts = SEVERITY_ORDER.map((s) => {
    const n = findings.filter((f) => f.severity === s).length;
    return n ? `${n} ${s}` : '';
  }).filter(Boolean);
  return `${findings.length} finding${findings.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

/** What a refusal says: each blocking finding, and how to accept it. */
export function refusalMessage(blocking: readonly Finding[], target: string): string {
  const ids = blocking.map((f) => f.id);
  return (
    `the pre-flight analysis refuses this rollback: ${blocking.map((f) => `${f.id} (${f.title})`).join('; ')}; ` +
    `if you have checked it is safe, accept with ${ids.map((id) => `--accept ${id}`).join(' ')} ` +
    `or list ${ids.length === 1 ? 'it' : 'them'} under targets.${target}.analysis.accept in the config`
  );
}
