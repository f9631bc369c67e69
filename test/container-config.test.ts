import { stringify } from 'yaml';
import { parseEnvFile, tagOf } from '../src/activities/container';
import { parseConfig } from '../src/targets/load';
import { keptName } from '../src/targets/kinds/container/plan';

/** The container kind's config and its pure helpers: no engine needed (the engine tests are in container.test.ts). */

function config(deploy: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return stringify({
    version: 1,
    targets: {
      app: {
        deploy: {
          type: 'container',
          container: 'lightdash-mcp',
          image: 'lightdash-mcp',
          stableTag: '1.11.4',
          ...deploy,
        },
        backupDir: '/var/backups/app',
        reportsDir: '/var/log/rollbacks/app',
        ...extra,
      },
    },
  });
}

test('a minimal container target parses with its defaults', () => {
  const parsed = parseConfig(config({}), 'inline.yaml');
  expect(parsed.targets.app!.deploy).toMatchObject({
    type: 'container',
    pull: 'missing',
    stopTimeoutSeconds: 10,
    engine: {},
  });
});

test.each([
  [{ image: 'lightdash-mcp:1.11.4' }, 'must be an image repository without a tag'],
  [{ stableTag: '1.11.4;rm' }, 'must be an image tag'],
  [{ container: '-x' }, 'must be a container name'],
  [{ pull: 'sometimes' }, 'pull'],
  [{ engine: { socket: 'docker.sock' } }, 'must be an absolute path'],
])('bad deploy fields are refused naming the field: %j', (deploy, message) => {
  expect(() => parseConfig(config(deploy), 'inline.yaml')).toThrow(message);
});

test('a container target over SSH is refused with the way to do it (a worker on the host)', () => {
  const ssh = {
    ssh: { host: 'web-1', user: 'deploy', identityFile: '/k', hostKeySha256: `SHA256:${'A'.repeat(43)}` },
  };
  expect(() => parseConfig(config({}, { host: ssh }), 'inline.yaml')).toThrow(/host: \{ worker: NAME \}/);
  expect(() => parseConfig(config({}, { host: { worker: 'web-1' } }), 'inline.yaml')).not.toThrow();
});

test('env files are read as docker run --env-file reads them: no quotes, comments and bare names skipped', () => {
  const env = parseEnvFile('# comment\nA=1\n  B= 2\nC="quoted"\nBARE\nD=x=y\n\n');
  expect([...env]).toEqual([
    ['A', '1'],
    ['B', ' 2'],
    ['C', '"quoted"'],
    ['D', 'x=y'],
  ]);
  expect(() => parseEnvFile('A=1\nB C=2\n')).toThrow('line 2: the variable name "B C" has blanks in it');
  expect(() => parseEnvFile('=x')).toThrow('line 1 has no variable name');
});

test('tags of image references, registry ports and digests included', () => {
  expect(tagOf('lightdash-mcp:1.20.2')).toBe('1.20.2');
  expect(tagOf('localhost:5000/team/app:1.2')).toBe('1.2');
  expect(tagOf('localhost:5000/team/app')).toBe('latest');
  expect(tagOf('app@sha256:abc')).toBe('sha256:abc');
});

test('the kept container is named after the rollback', () => {
  expect(keptName('lightdash-mcp', 'app-20261123-085000-ab12')).toBe(
    'lightdash-mcp-rolled-back-20261123-085000-ab12',
  );
  expect(keptName('x', 'a b/c')).toBe('x-rolled-back-a-b-c');
});
