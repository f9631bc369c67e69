/**
 * How people and ECS name a task-definition revision. Pure: the planner checks a requested
 * revision with it before anything runs, and the activities compare what ECS answers.
 */

export interface Revision {
  family: string;
  revision: number;
}

const FAMILY = '[A-Za-z0-9_-]{1,255}';
const ARN = new RegExp(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\\d{12}:task-definition/(${FAMILY}):(\\d+)$`);
const FAMILY_REVISION = new RegExp(`^(${FAMILY}):(\\d+)$`);
const REVISION_ONLY = /^(\d+)$/;

/** `family:12`, a task-definition ARN, or a bare revision number (family then comes from the service). */
export const REVISION_SYNTAX =
  'family:REVISION (like catalog:12), a revision number, or a task-definition ARN';

/** Parses what a person or ECS names a revision by; `family` is absent for a bare number. */
export function parseRevisionRef(text: string): { family?: string; revision: number } | null {
  const m = ARN.exec(text) ?? FAMILY_REVISION.exec(text);
  if (m) return { family: m[1]!, revision: Number(m[2]) };
  const n = REVISION_ONLY.exec(text);
  if (n && Number(n[1]) > 0) return { revision: Number(n[1]) };
  return null;
}

/** The family and revision of an ARN or `family:revision` (what ECS stores); null for anything else. */
export function revisionOf(arnOrName: string | undefined): Revision | null {
  if (!arnOrName) return null;
  const r = parseRevisionRef(arnOrName);
  return r?.family ? { family: r.family, revision: r.revision } : null;
}

export function formatRevision(r: Revision): string {
  return `${r.family}:${r.revision}`;
}

/**
 * Whether two names denote the same revision. ECS answers with ARNs, but an emulator (moto) stores
 * the string UpdateService was given, so `catalog:3` and its ARN must compare equal.
 */
export function sameRevision(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  if (a === b) return true;
  const ra = revisionOf(a);
  const rb = revisionOf(b);
  return !!ra && !!rb && ra.family === rb.family && ra.revision === rb.revision;
}
