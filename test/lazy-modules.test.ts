import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/** The packages a module loads, in a fresh Node process (the sources through tsx's require hook). */
function packagesLoadedBy(module: string, then = ''): string[] {
  const r = spawnSync(
    process.execPath,
    [
      '-r',
      require.resolve('tsx/cjs'),
      '-e',
      `const m = require(${JSON.stringify(module)}); Promise.resolve((${then || '() => undefined'})(m)).then(() => {
        const seen = new Set();
        for (const f of Object.keys(require.cache)) {
          const at = f.lastIndexOf('/node_modules/');
          if (at < 0) continue;
          const parts = f.slice(at + 14).split('/');
          seen.add(parts[0].startsWith('@') ? parts[0] + '/' + parts[1] : parts[0]);
        }
        console.log(JSON.stringify([...seen]));
      });`,
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
}

const HEAVY = [
  '@aws-sdk/client-ecs',
  '@aws-sdk/client-cloudwatch',
  '@aws-sdk/client-elastic-load-balancing-v2',
  '@modelcontextprotocol/sdk',
  'dockerode',
  'ssh2',
];

test("the worker's activities load the AWS SDK, the MCP SDK, dockerode and ssh2 only when a step needs them", () => {
  const atStart = packagesLoadedBy(join(ROOT, 'src', 'worker.ts'));
  expect(atStart).toContain('@temporalio/worker');
  for (const p of HEAVY) expect(atStart).not.toContain(p);

  // A step that needs one loads it then (and works: the client is built from the loaded SDK).
  const afterEcs = packagesLoadedBy(
    join(ROOT, 'src', 'activities', 'ecs', 'aws.ts'),
    `(m) => { const c = m.awsClients.ecs({ region: 'eu-west-1' }); if (!c.send) throw new Error('no ECS client'); c.destroy(); }`,
  );
  expect(afterEcs).toContain('@aws-sdk/client-ecs');
});

test('the CLI loads commander alone until a command runs: not the Temporal client, the config schema or the signing library', () => {
  const atStart = packagesLoadedBy(join(ROOT, 'src', 'cli', 'main.ts')).filter(
    (p) => p !== 'tsx' && p !== 'esbuild', // the require hook this test loads the sources with
  );
  expect(atStart).toEqual(['commander']);
  // Running a command loads what it needs (the --help text lists every command's name).
  const afterHelp = packagesLoadedBy(
    join(ROOT, 'src', 'cli', 'main.ts'),
    `(m) => { const p = m.buildProgram({ stdout() {}, stderr() {}, setExitCode() {} }); if (!p.helpInformation().includes('start')) throw new Error('no start command'); }`,
  );
  for (const p of ['@temporalio/client', 'zod', 'yaml', '@noble/curves']) expect(afterHelp).not.toContain(p);
});
