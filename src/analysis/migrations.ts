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

/**
 * A glob as a RegExp over relative paths: `**` crosses folders (`a/**` matches everything below
 * `a`), `*` and `?` stay within a segment, as git's `:(glob)` pathspecs do.
 */
export function globRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** The files among `paths` each glob matches, with the first glob that matched. */
export function matchMigrations(paths: readonly string[], globs: readonly string[]) {
  const res = globs.map((g) => ({ glob: g, re: globRegExp(g) }));
  return paths.flatMap((path) => {
    const hit = res.find((r) => r.re.test(path));
    return hit ? [{ path, glob: hit.glob }] : [];
  });
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
