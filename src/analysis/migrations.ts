import type { Finding } from '../model/analysis';

/**
 * Migration files the running version has and the target version does not: code rolled back over
 * a database those migrations changed. One finding per migration, named the way tools name them
 * (`migrations/20261101_add_orders.sql` and `prisma/migrations/20261101_add_orders/migration.sql`
 * are both `migration:20261101_add_orders`).
 */

/** The folder a glob starts from: its segments before the first with a wildcard. */
export function globBase(glob: string): string {
  const segments = glob.split('/');
  const i = segments.findIndex((s) => /[*?[{]/.test(s));
  return (i === -1 ? segments : segments.slice(0, i)).join('/');
}

/** `NAME` of a migration file matched by `glob`: its first path segment below the glob's base. */
export function migrationName(path: string, glob: string): string {
  const base = globBase(glob);
  const rel = base && path.startsWith(`${base}/`) ? path.slice(base.length + 1) : path;
  const first = rel.split('/')[0]!;
  return rel.includes('/') ? first : first.replace(/\.[^.]+$/, '');
}

/** Git pathspecs for the globs (`:(glob)` magic, so `**` crosses folders). */
export function migrationPathspecs(globs: readonly string[]): string[] {
  return globs.map((g) => `:(glob)${g}`);
}

export function migrationFindings(files: { path: string; glob: string }[], between: string): Finding[] {
  const byName = new Map<string, string[]>();
  for (const f of files) {
    const name = migrationName(f.path, f.glob);
    byName.set(name, [...(byName.get(name) ?? []), f.path]);
  }
  return [...byName].map(([name, paths]) => ({
    id: `migration:${name}`,
    severity: 'block' as const,
    title: `migration ${name} was added ${between}: the rolled-back code would run on a database it changed`,
    details: paths,
  }));
}
