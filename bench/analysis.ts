/**
 * `npm run bench`: what the pre-flight analysis adds to a rollback of the fixture. The analyze
 * step runs on the critical path (before the backup), so its time is what it adds: the same
 * activity the worker runs, called here on the fixture's deployed working copy (v1.20.2 → v1.11.4:
 * both lock files, the env keys, the migrations, the npm cache lookup). BENCH_RUNS sets the runs.
 */
import { createActivities } from '../src/activities';
import { getTarget, loadConfig } from '../src/targets/load';
import { planRollback } from '../src/targets/plan';
import { createSandbox } from '../test/rig/sandbox';
import { mkdtempSync } from 'node:fs';
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
      ].join('\n'),
    );
  } finally {
    await sb.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
