import { join } from 'node:path/posix';
import { dependencyFindings, diffRanges } from '../analysis/dependencies';
import { documentedKeys, envCheckFindings, envKeys } from '../analysis/env-keys';
import { globBase, matchMigrations, migrationFindings } from '../analysis/migrations';
import type { AnalysisResult, Finding } from '../model/analysis';
import type { HostSpec } from '../model';
import { tail, type Host } from '../runner/types';
import { concludeAnalysis, type AnalysisCommon } from './analysis';
import { permanent, retryable, type StepResult } from './common';
import type { ActivityDeps } from './deps';
import { npmArgs, type NpmPackageRef } from './npm-package';

/**
 * The pre-flight analysis of a service installed as an npm package: the installed folder against
 * the target version's tarball, fetched from the registry into a temporary folder on the host
 * (npm checks it against the registry's integrity, and it stays in npm's cache for the install).
 * Nothing of the service is touched. Findings name packages, keys and files, never an env value.
 */

export interface NpmAnalysisInput extends AnalysisCommon, NpmPackageRef {
  /** The installed package's folder (the inspect step's). */
  dir: string;
  toVersion: string;
  /** The target version's dependencies, as the registry publishes them (the resolve step's). */
  dependencies: Record<string, string>;
  /** The env file among the config files, relative to the folder; none: no env check. */
  envFile?: string;
  envExamples: string[];
  /** Globs relative to the package's folder. */
  migrations: string[];
}

interface PackedVersion {
  files: string[];
  size: number;
  documented: { file: string; required: string[]; optional: string[] } | null;
}

interface PackJson {
  filename?: string;
  size?: number;
  files?: { path: string }[];
}

/** `npm pack NAME@VERSION` into a temporary folder on the host: its files and documented env keys. */
async function packTarget(host: Host, input: NpmAnalysisInput): Promise<PackedVersion | Finding> {
  const spec = `${input.name}@${input.toVersion}`;
  const mk = await host.runner.run(['mktemp', '-d', '-t', 'rollback-analysis.XXXXXX'], { timeoutMs: 10_000 });
  const tmp = mk.stdout.trim();
  if (mk.exitCode !== 0 || !tmp.startsWith('/')) {
    throw retryable(`mktemp -d failed on ${host.label}: ${tail(mk.stderr, 3)}`, 'NpmFailed');
  }
  try {
    const r = await host.runner.run(
      ['npm', 'pack', spec, '--pack-destination', tmp, '--json', '--loglevel=error', ...npmArgs(input)],
      { timeoutMs: 120_000 },
    );
    if (r.exitCode !== 0) {
      if (/EINTEGRITY/.test(r.stderr + r.stdout)) {
        return {
          id: 'deps:integrity',
          severity: 'block',
          title: `the registry's tarball of ${spec} does not match its published integrity: the install would fail`,
        };
      }
      throw retryable(
        `npm pack ${spec} failed on ${host.label}: ${tail(r.stderr || r.stdout, 5)}`,
        'NpmFailed',
      );
    }
    let packed: PackJson | undefined;
    try {
      const json = r.stdout.slice(Math.max(0, r.stdout.indexOf('[')));
      packed = (JSON.parse(json) as PackJson[])[0];
    } catch {
      packed = undefined;
    }
    if (!packed?.filename || !Array.isArray(packed.files)) {
      throw permanent(
        `npm pack ${spec} on ${host.label} printed no readable --json: ${tail(r.stdout, 3)}`,
        'NpmFailed',
      );
    }
    const files = packed.files.map((f) => f.path.replace(/^\.\//, ''));
    let documented: PackedVersion['documented'] = null;
    const example = input.envExamples.find((f) => files.includes(f));
    if (example) {
      const x = await host.runner.run(['tar', '-xzOf', join(tmp, packed.filename), `package/${example}`], {
        timeoutMs: 30_000,
      });
      if (x.exitCode === 0) documented = { file: example, ...documentedKeys(x.stdout) };
    }
    return { files, size: packed.size ?? 0, documented };
  } finally {
    await host.runner.run(['rm', '-rf', '--', tmp], { timeoutMs: 30_000 });
  }
}

/** Files of the installed package under the migration globs' folders (relative paths). */
async function installedMigrationFiles(host: Host, input: NpmAnalysisInput): Promise<string[]> {
  const bases = [...new Set(input.migrations.map(globBase))].filter(
    (b) => b && !b.startsWith('node_modules'),
  );
  if (bases.length === 0) return [];
  // Folders that do not exist make find exit 1; what it printed for the others still counts.
  const r = await host.runner.run(['find', ...bases.map((b) => join(input.dir, b)), '-type', 'f'], {
    timeoutMs: 30_000,
  });
  const prefix = `${input.dir.replace(/\/+$/, '')}/`;
  return r.stdout
    .split('\n')
    .filter((p) => p.startsWith(prefix))
    .map((p) => p.slice(prefix.length));
}

async function presentKeys(host: Host, input: NpmAnalysisInput) {
  const file = join(input.dir, input.envFile!);
  if (!(await host.files.stat(file))) return null;
  return {
    keys: envKeys((await host.files.read(file)).toString('utf8')),
    // The rollback puts this file back into the installed version (restore-config).
    where: `the installed ${input.envFile}`,
  };
}

export async function analyzeNpmPackageRollback(
  input: NpmAnalysisInput,
  host: Host,
): Promise<StepResult<AnalysisResult>> {
  let pkg: { version?: string; dependencies?: Record<string, string> };
  try {
    pkg = JSON.parse((await host.files.read(join(input.dir, 'package.json'))).toString('utf8')) as typeof pkg;
  } catch {
    return concludeAnalysis(
      [
        {
          id: 'deps',
          severity: 'warn',
          title: `cannot read ${input.dir}/package.json: the dependency diff is unknown`,
        },
      ],
      input,
    );
  }
  const version = pkg.version ?? '?';
  const label = `${version} → ${input.toVersion}`;
  const findings = dependencyFindings(diffRanges(pkg.dependencies ?? {}, input.dependencies ?? {}), label, [
    'declared dependency',
    'declared dependencies',
  ]);
  const [packed, installedMigrations, present] = await Promise.all([
    packTarget(host, input),
    installedMigrationFiles(host, input),
    input.envFile ? presentKeys(host, input) : Promise.resolve(null),
  ]);
  if ('id' in packed) return concludeAnalysis([...findings, packed], input);
  findings.push({
    id: 'deps:tarball',
    severity: 'info',
    title: `the registry serves ${input.name}@${input.toVersion} to the host (${packed.files.length} files, ${Math.ceil(packed.size / 1024)} kB, integrity checked)`,
  });
  if (input.envFile) {
    findings.push(
      ...envCheckFindings({
        envFile: input.envFile,
        envExamples: input.envExamples,
        documented: packed.documented,
        present,
        label: `${input.name}@${input.toVersion}`,
      }),
    );
  }
  const target = new Set(packed.files);
  const added = matchMigrations(
    installedMigrations.filter((f) => !target.has(f)),
    input.migrations,
  );
  findings.push(...migrationFindings(added, `after ${input.toVersion} (in the installed ${version})`));
  return concludeAnalysis(findings, input);
}

export function npmPackageAnalysisActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    analyzeNpmPackageRollback: (input: NpmAnalysisInput, on?: HostSpec) =>
      deps.onHost(on, (host) => analyzeNpmPackageRollback(input, host)),
  };
}
