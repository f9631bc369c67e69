import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { taskDefinitionFindings } from '../src/analysis/task-definitions';
import { Cleanup } from './rig/cleanup';
import { startEcsRig, type EcsRig } from './rig/ecs';
import { runCli } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';

/**
 * The pre-flight analysis of an ECS rollback against moto (the real AWS API's shape): the
 * running revision and the one the rollback returns to, compared container by container.
 */

const cleanup = new Cleanup();
let aws: EcsRig;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(scratchRoot(), 'rb-ecs-analysis-'));
  cleanup.add(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  aws = await startEcsRig(root);
  cleanup.add('the ECS rig', () => aws.stop());
});

afterAll(() => cleanup.run());

const CANARY = 'value-canary-7f3a9';

test('a pair of revisions differing in image and one env var: the plan names exactly those, never the value', async () => {
  const s = await aws.seed(
    'analysis',
    [
      { image: 'catalog:2.0.0', env: { QURATOR: 'true', LOG_LEVEL: 'info' } },
      { image: 'catalog:2.1.0', env: { QURATOR: 'true', LOG_LEVEL: CANARY } },
    ],
    { current: 2 },
  );
  const configFile = join(root, 'rollback.yaml');
  writeFileSync(
    configFile,
    stringify({
      version: 1,
      targets: {
        catalog: {
          deploy: {
            type: 'ecs',
            cluster: s.cluster,
            service: s.service,
            region: aws.moto.region,
            endpoint: aws.moto.endpoint,
          },
          reportsDir: join(root, 'reports'),
        },
      },
    }),
  );
  const r = await runCli(['--config', configFile, 'plan', 'emergency', '--target', 'catalog', '--json']);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as {
    steps: { id: string }[];
    preview: {
      checks: { id: string; state: string }[];
      findings: { id: string; severity: string; title: string }[];
    };
  };
  expect(out.steps.slice(0, 4).map((x) => x.id)).toEqual(['inspect', 'resolve', 'analyze', 'incident']);
  expect(out.preview.checks.map((c) => c.state)).toEqual(['passed', 'passed', 'passed']);
  expect(out.preview.findings.map((f) => f.id).sort()).toEqual(['env:app:LOG_LEVEL', 'image:app']);
  expect(out.preview.findings.find((f) => f.id === 'image:app')!.title).toBe(
    'app: image catalog:2.1.0 → catalog:2.0.0',
  );
  expect(out.preview.findings.find((f) => f.id === 'env:app:LOG_LEVEL')!.title).toBe(
    `app: env var LOG_LEVEL has another value in ${s.family}:1`,
  );
  expect(r.stdout + r.stderr).not.toContain(CANARY);
});

test('secret names, env vars, ports and task size: each difference is named with its severity', () => {
  const app = (over: Record<string, unknown>) => ({
    name: 'app',
    image: 'catalog:1',
    environment: [{ name: 'A', value: '1' }],
    secrets: [{ name: 'DB_PASSWORD', valueFrom: 'arn:aws:secretsmanager:eu-west-1:1:secret:db' }],
    portMappings: [{ containerPort: 8080, protocol: 'tcp' as const }],
    ...over,
  });
  const current = { family: 'f', revision: 3, cpu: '256', memory: '512', containerDefinitions: [app({})] };
  const target = {
    family: 'f',
    revision: 2,
    cpu: '512',
    memory: '512',
    containerDefinitions: [
      app({ environment: [], secrets: [], portMappings: [{ containerPort: 9090, protocol: 'tcp' }] }),
      { name: 'sidecar', image: 'envoy:1' },
    ],
  };
  const byId = Object.fromEntries(taskDefinitionFindings(current, target).map((f) => [f.id, f.severity]));
  expect(byId).toEqual({
    'task:cpu': 'info',
    'env:app:A': 'warn',
    'secret:app:DB_PASSWORD': 'warn',
    'ports:app': 'warn',
    'container:sidecar': 'info',
  });
  expect(JSON.stringify(taskDefinitionFindings(current, target))).not.toContain('secretsmanager');
});
