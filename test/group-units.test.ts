import { stringify } from 'yaml';
import { splitWaves } from '../src/model/group';
import { parseConfig } from '../src/targets/load';

/** Group waves and the groups: section of the config: pure, no server. */

const names = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`);

test('cumulative wave sizes: a canary, then shares; never an empty wave; the rest in the last', () => {
  expect(splitWaves(names(20), [1, '25%', '100%']).map((w) => w.length)).toEqual([1, 4, 15]);
  expect(splitWaves(names(3), [1, '25%', '100%']).map((w) => w.length)).toEqual([1, 1, 1]);
  expect(splitWaves(names(5), [2])).toEqual([
    ['t1', 't2'],
    ['t3', 't4', 't5'],
  ]);
  expect(splitWaves(names(2), [5, '100%'])).toEqual([['t1', 't2']]);
  expect(splitWaves(names(1000), [1, '10%', '100%']).map((w) => w.length)).toEqual([1, 99, 900]);
});

const config = (groups: unknown) =>
  stringify({
    version: 1,
    targets: Object.fromEntries(
      ['a', 'b'].map((t) => [
        t,
        {
          deploy: { type: 'git', path: `/srv/${t}`, stableVersion: 'v1' },
          service: { manager: 'command', start: ['true'], stop: ['true'], status: ['true'] },
          backupDir: `/b/${t}`,
          reportsDir: `/r/${t}`,
        },
      ]),
    ),
    groups,
  });

test('a group naming an unknown or repeated target is refused, naming it; defaults fill the rest', () => {
  expect(() => parseConfig(config({ web: { targets: ['a', 'zz'] } }), 'x.yaml')).toThrow(
    /groups\.web\.targets\.1.*no target "zz" in this config; use one of: a, b/s,
  );
  expect(() => parseConfig(config({ web: { targets: ['a', 'a'] } }), 'x.yaml')).toThrow(
    /"a" is listed twice/,
  );
  expect(() => parseConfig(config({ web: { targets: ['a'], waves: ['150%'] } }), 'x.yaml')).toThrow(
    /a share of the group, like 25%/,
  );
  const parsed = parseConfig(config({ web: { targets: ['a', 'b'] } }), 'x.yaml');
  expect(parsed.groups.web).toMatchObject({
    waves: [1, '100%'],
    maxParallel: 5,
    failureThreshold: 1,
    onThreshold: 'decide',
  });
});
