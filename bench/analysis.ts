/**
 * `npm run bench`: what the pre-flight analysis adds to a rollback of the fixture. The analyze
 * step runs on the critical path (before the backup), so its time is what it adds: the same
 * activity the worker runs, called here on the fixture's deployed working copy (v1.20.2 → v1.11.4:
 * both lock files, the env keys, the migrations, the npm cache lookup), and the npm-package
 * analysis against a real registry (Verdaccio). BENCH_RUNS sets the runs.
 */
import { createActivities } from '../src/activities';
import { getTarget, loadConfig } from '../src/targets/load';
import { planRollback } from '../src/targets/plan';
import { createSandbox } from '../test/rig/sandbox';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { BAD_VERSION, GOOD_VERSION } from '../test/rig/fixture-repo';
import { startRegistry } from '../test/rig/npm-registry';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);

async function main() {
  const sb = await createSandbox({
    name: 'bench-analysis',
    startBad: false,
    parentDir: mkdtempSync(join(tmpdir(), 'rb-bench-analysis-')),
  });
  try {
    const loaded = loadConfig(sb.configFile);
    const plan = planRollback(getTarget(loaded, sb.target), {
      rollbackId: 'bench',
      target: sb.target,
      kind: 'emergency',
      reason: 'bench',
      requestedBy: 'bench',
      requestedAt: new Date().toISOString(),
    });
    const step = plan.steps.find((s) => s.id === 'analyze')!;
    const acts = createActivities();
    const { commit: from } = (await acts.inspectGitDeployment({ path: sb.deployPath })).data;
    const { commit: to } = (
      await acts.resolveGitRef({ path: sb.deployPath, remote: 'origin', ref: 'v1.11.4' })
    ).data;
    const input = { ...(step.input as Parameters<typeof acts.analyzeGitRollback>[0]), from, to };
    const times: number[] = [];
    let summary = '';
    for (let i = 0; i < RUNS + 1; i++) {
      const t0 = performance.now();
      const r = await acts.analyzeGitRollback(input);
      const t = performance.now() - t0;
      summary = r.summary;
      if (i > 0) times.push(t); // the first run warms the module cache
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    const npm = await npmPackageTimes();
    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    console.log(
      [
        '',
        `Pre-flight analysis of the fixture (${RUNS} runs after one warm-up; ${summary})`,
        row(['measure', 'median ms', 'min ms', 'max ms', 'goal']),
        row(['---', '---', '---', '---', '---']),
        row([
          'analyze step (git objects, env keys, npm cache)',
          median.toFixed(0),
          times[0]!.toFixed(0),
          times[times.length - 1]!.toFixed(0),
          '< 300 ms',
        ]),
        row([
          `npm-package analyze step (npm pack of the ${Math.round(npm.kb / 1024)} MB tarball from Verdaccio, env keys, migrations)`,
          npm.times[Math.floor(npm.times.length / 2)]!.toFixed(0),
          npm.times[0]!.toFixed(0),
          npm.times[npm.times.length - 1]!.toFixed(0),
          "(none; the tarball it fetches is then in npm's cache for the install)",
        ]),
      ].join('\n'),
    );
  } finally {
    await sb.cleanup();
  }
}

/** The npm-package analysis against a real registry: the stable fixture release vs an installed one. */
async function npmPackageTimes(): Promise<{ times: number[]; kb: number }> {
  const registry = await startRegistry();
  const prefix = mkdtempSync(join(tmpdir(), 'rb-bench-npm-'));
  try {
    const name = 'lightdash-mcp';
    await registry.publishFixture({ name, version: GOOD_VERSION });
    await registry.publishFixture({ name, version: BAD_VERSION });
    const acts = createActivities();
    const ref = { name, prefix, registry: registry.url };
    await acts.installNpmPackage({ ...ref, version: BAD_VERSION });
    const dir = join(prefix, 'lib', 'node_modules', name);
    writeFileSync(join(dir, '.env'), 'LIGHTDASH_API_KEY=bench\n');
    const resolved = await acts.resolveNpmVersion({ ...ref, version: GOOD_VERSION });
    const input = {
      ...ref,
      target: 'bench',
      accept: [],
      report: true,
      dir,
      toVersion: GOOD_VERSION,
      dependencies: resolved.data.dependencies,
      envFile: '.env',
      envExamples: ['.env.example'],
      migrations: ['migrations/**'],
    };
    const times: number[] = [];
    let kb = 0;
    for (let i = 0; i < RUNS + 1; i++) {
      const t0 = performance.now();
      const r = await acts.analyzeNpmPackageRollback(input);
      const t = performance.now() - t0;
      kb = Number(
        /(\d+) kB/.exec(r.data.findings.find((f) => f.id === 'deps:tarball')?.title ?? '')?.[1] ?? 0,
      );
      if (i > 0) times.push(t);
    }
    return { times: times.sort((a, b) => a - b), kb };
  } finally {
    rmSync(prefix, { recursive: true, force: true });
    await registry.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
