import type { Finding } from '../model/analysis';

/**
 * The dependency diff of a rollback, from the package-lock.json of what runs and of the version it
 * goes to. Pure: the caller reads the two files (git show REF:package-lock.json).
 */

export interface LockedPackage {
  version: string;
  integrity?: string;
}

export interface LockFile {
  /** Install path without its leading `node_modules/` (`a/node_modules/b` for a nested one). */
  packages: Map<string, LockedPackage>;
  /** The root package's own dependencies (any kind): the ones worth naming one by one. */
  direct: Set<string>;
}

export type Change = 'added' | 'removed' | 'major' | 'minor' | 'patch' | 'other';

export interface PackageChange {
  name: string;
  change: Change;
  from?: string;
  to?: string;
  direct: boolean;
}

type RawPackage = {
  version?: unknown;
  integrity?: unknown;
  link?: unknown;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
  optionalDependencies?: Record<string, unknown>;
  peerDependencies?: Record<string, unknown>;
};

/** Reads lockfileVersion 2 and 3 (`packages`) and 1 (nested `dependencies`). Throws on bad JSON. */
export function parseLockFile(text: string): LockFile {
  const json = JSON.parse(text) as {
    packages?: Record<string, RawPackage>;
    dependencies?: Record<string, RawPackage>;
  };
  const packages = new Map<string, LockedPackage>();
  const direct = new Set<string>();
  if (json.packages) {
    for (const [path, p] of Object.entries(json.packages)) {
      if (path === '') {
        for (const field of ['dependencies', 'devDependencies', 'optionalDependencies'] as const)
          Object.keys(p[field] ?? {}).forEach((d) => direct.add(d));
        continue;
      }
      if (!path.startsWith('node_modules/') || p.link || typeof p.version !== 'string') continue;
      packages.set(path.slice('node_modules/'.length), {
        version: p.version,
        ...(typeof p.integrity === 'string' ? { integrity: p.integrity } : {}),
      });
    }
    return { packages, direct };
  }
  const walk = (deps: Record<string, RawPackage> | undefined, prefix: string) => {
    for (const [name, p] of Object.entries(deps ?? {})) {
      if (typeof p.version !== 'string') continue;
      const path = prefix + name;
      if (!prefix) direct.add(name);
      packages.set(path, {
        version: p.version,
        ...(typeof p.integrity === 'string' ? { integrity: p.integrity } : {}),
      });
      walk(p.dependencies as Record<string, RawPackage> | undefined, `${path}/node_modules/`);
    }
  };
  walk(json.dependencies, '');
  return { packages, direct };
}

function semverParts(v: string): [number, number, number] | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

export function classify(from: string, to: string): Change {
  const a = semverParts(from);
  const b = semverParts(to);
  if (!a || !b) return 'other';
  if (a[0] !== b[0]) return 'major';
  // 0.x: a minor change is a breaking one, as npm's caret ranges treat it.
  if (a[1] !== b[1]) return a[0] === 0 ? 'major' : 'minor';
  return a[2] !== b[2] ? 'patch' : 'other';
}

/** Every package whose locked version differs between what runs (`from`) and the target (`to`). */
export function diffLocks(from: LockFile, to: LockFile): PackageChange[] {
  const changes: PackageChange[] = [];
  const direct = (name: string) => from.direct.has(name) || to.direct.has(name);
  for (const [name, t] of to.packages) {
    const f = from.packages.get(name);
    if (!f) changes.push({ name, change: 'added', to: t.version, direct: direct(name) });
    else if (f.version !== t.version)
      changes.push({
        name,
        change: classify(f.version, t.version),
        from: f.version,
        to: t.version,
        direct: direct(name),
      });
  }
  for (const [name, f] of from.packages) {
    if (!to.packages.has(name))
      changes.push({ name, change: 'removed', from: f.version, direct: direct(name) });
  }
  return changes.sort((a, b) => a.name.localeCompare(b.name));
}

/** The lowest version a range allows (`^1.2.3` → `1.2.3`), for classifying a change of range. */
const floor = (range: string) => /\d+\.\d+\.\d+/.exec(range)?.[0] ?? range;

/**
 * A package's declared dependencies (name → range) at two versions, for a global npm package: the
 * ranges the registry publishes, the ones npm resolves at install. Every entry is direct.
 */
export function diffRanges(from: Record<string, string>, to: Record<string, string>): PackageChange[] {
  const changes: PackageChange[] = [];
  for (const [name, range] of Object.entries(to)) {
    const was = from[name];
    if (was === undefined) changes.push({ name, change: 'added', to: range, direct: true });
    else if (was !== range)
      changes.push({ name, change: classify(floor(was), floor(range)), from: was, to: range, direct: true });
  }
  for (const [name, range] of Object.entries(from))
    if (!(name in to)) changes.push({ name, change: 'removed', from: range, direct: true });
  return changes.sort((a, b) => a.name.localeCompare(b.name));
}

function describe(c: PackageChange): string {
  if (c.change === 'added') return `${c.name} ${c.to} (added)`;
  if (c.change === 'removed') return `${c.name} ${c.from} (removed)`;
  return `${c.name} ${c.from} → ${c.to} (${c.change})`;
}

/**
 * Findings of a dependency diff: one count line, and one finding per direct dependency that
 * changes (a major change warns: its API may differ from what the code at the target expects).
 */
export function dependencyFindings(
  changes: PackageChange[],
  label: string,
  [one, many]: [string, string] = ['locked package', 'locked packages'],
): Finding[] {
  if (changes.length === 0) {
    return [{ id: 'deps', severity: 'info', title: `no ${many} change (${label})` }];
  }
  const count = (c: Change) => changes.filter((x) => x.change === c).length;
  const parts = (['added', 'removed', 'major', 'minor', 'patch', 'other'] as Change[])
    .map((c) => (count(c) ? `${count(c)} ${c}` : ''))
    .filter(Boolean);
  const findings: Finding[] = [
    {
      id: 'deps',
      severity: 'info',
      title: `${changes.length} ${changes.length === 1 ? one : many} change (${parts.join(', ')}; ${label})`,
      details: changes.slice(0, 50).map(describe),
    },
  ];
  for (const c of changes.filter((x) => x.direct && !x.name.includes('/node_modules/'))) {
    findings.push({
      id: `dep:${c.name}`,
      severity: c.change === 'major' || c.change === 'removed' ? 'warn' : 'info',
      title: describe(c),
    });
  }
  return findings;
}

/** Where npm's cache keeps a tarball of this integrity (cacache's content-v2 layout). */
export function cacheContentPath(cacheDir: string, integrity: string): string | null {
  const m = /^(sha512|sha1)-([A-Za-z0-9+/=]+)/.exec(integrity.split(/\s+/)[0] ?? '');
  if (!m) return null;
  const hex = Buffer.from(m[2]!, 'base64').toString('hex');
  return `${cacheDir}/_cacache/content-v2/${m[1]}/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex.slice(4)}`;
}
