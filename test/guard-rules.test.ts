import { stringify } from 'yaml';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addSample,
  evidenceOf,
  holdingRules,
  inMaintenance,
  initialGuardState,
  type GuardRule,
  type GuardState,
} from '../src/model/guard';
import { renderIncident } from '../src/reports/incident';
import { guardSchema, resolveGuard } from '../src/targets/guard';
import { getTarget, loadConfig } from '../src/targets/load';

/** The guard's rules without a server: the config, the presets, the windows, maintenance. */

const rule: GuardRule = {
  name: 'errors',
  signal: { type: 'prometheus', url: 'http://127.0.0.1:9090', query: 'x' },
  above: 0.1,
  forSeconds: 10,
  action: 'rollback',
  kind: 'emergency',
};

function sampled(
  values: (number | undefined)[],
  startMs = Date.parse('2026-11-23T10:00:00Z'),
  stepMs = 5000,
): GuardState {
  const state = initialGuardState(new Date(startMs));
  values.forEach((value, i) => {
    const at = new Date(startMs + i * stepMs).toISOString();
    state.rules.errors = addSample(state.rules.errors, {
      at,
      ...(value !== undefined ? { value } : {}),
      breached: value !== undefined && value > 0.1,
    });
  });
  return state;
}

describe('windows', () => {
  const at = (i: number) => new Date(Date.parse('2026-11-23T10:00:00Z') + i * 5000);

  test('a rule holds once every sample for its whole window breached', () => {
    expect(holdingRules([rule], sampled([0.2, 0.3]), at(1))).toEqual([]); // 5 s of 10
    expect(holdingRules([rule], sampled([0.2, 0.3, 0.25]), at(2))).toEqual([rule]); // 10 s
  });

  test('one clear sample, or a sample without a value, starts the window over', () => {
    expect(holdingRules([rule], sampled([0.2, 0.3, 0.05, 0.2, 0.2]), at(4))).toEqual([]);
    expect(holdingRules([rule], sampled([0.2, 0.3, undefined, 0.2, 0.2]), at(4))).toEqual([]);
    expect(holdingRules([rule], sampled([0.2, 0.3, 0.05, 0.2, 0.2, 0.2]), at(5))).toEqual([rule]);
  });

  test('below-thresholds, and the evidence names the rule, the window and each sample of the breach', () => {
    const low: GuardRule = { ...rule, above: undefined, below: 2 };
    const state = initialGuardState(at(0));
    for (let i = 0; i < 3; i++)
      state.rules.errors = addSample(state.rules.errors, {
        at: at(i).toISOString(),
        value: 1,
        breached: true,
      });
    expect(holdingRules([low], state, at(2))).toEqual([low]);
    const evidence = evidenceOf(rule, sampled([0.05, 0.2, 0.3, 0.4]).rules.errors, at(3));
    expect(evidence[0]).toBe('rule errors: prometheus x > 0.1 held 10 s (window 10 s)');
    expect(evidence.slice(1).map((l) => l.trim().split(/\s+/)[1])).toEqual(['0.2', '0.3', '0.4']);
  });
});

describe('maintenance windows', () => {
  test('recurring windows in UTC, across midnight and by day; one-off windows by ISO time', () => {
    const nightly = [{ from: '23:00', to: '01:00' }];
    expect(inMaintenance(nightly, new Date('2026-11-23T23:30:00Z'))).toBe(true);
    expect(inMaintenance(nightly, new Date('2026-11-24T00:30:00Z'))).toBe(true);
    expect(inMaintenance(nightly, new Date('2026-11-24T01:00:00Z'))).toBe(false);
    // 2026-11-23 is a Monday.
    const mondays = [{ days: ['mon'], from: '10:00', to: '11:00' }];
    expect(inMaintenance(mondays, new Date('2026-11-23T10:30:00Z'))).toBe(true);
    expect(inMaintenance(mondays, new Date('2026-11-24T10:30:00Z'))).toBe(false);
    const once = [{ start: '2026-12-24T18:00:00Z', end: '2026-12-26T08:00:00Z' }];
    expect(inMaintenance(once, new Date('2026-12-25T12:00:00Z'))).toBe(true);
    expect(inMaintenance(once, new Date('2026-12-26T08:00:00Z'))).toBe(false);
  });
});

describe('config', () => {
  const root = mkdtempSync(join(tmpdir(), 'rb-guard-config-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const load = (guard: unknown) => {
    const file = join(root, `c-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      file,
      stringify({
        version: 1,
        targets: {
          svc: {
            deploy: { type: 'git', path: root, stableVersion: 'v1.11.4' },
            service: { manager: 'command', start: ['true'], stop: ['true'], status: ['true'] },
            backupDir: join(root, 'b'),
            reportsDir: join(root, 'r'),
            guard,
          },
        },
      }),
    );
    const loaded = loadConfig(file);
    const target = getTarget(loaded, 'svc');
    return resolveGuard('svc', target.guard!, file);
  };

  test('the ECS runbook preset: its four triggers from the sources given, a rule of the same name overriding one', () => {
    const spec = load({
      preset: 'ecs-runbook',
      sources: {
        healthUrls: ['http://10.0.0.5:8080/health', 'http://10.0.0.6:8080/health'],
        prometheus: {
          url: 'http://127.0.0.1:9090',
          errorRate: 'err',
          latencySeconds: 'lat',
          memoryRatio: 'mem',
        },
      },
      rules: [{ name: 'latency', above: 2, forSeconds: 60 }],
    });
    expect(spec.rules.map((r) => [r.name, r.above, r.forSeconds, r.action, r.kind])).toEqual([
      ['unhealthy-instances', 0.5, 300, 'rollback', 'emergency'],
      ['error-rate', 0.1, 600, 'rollback', 'emergency'],
      ['latency', 2, 60, 'rollback', 'emergency'],
      ['memory', 0.9, 300, 'rollback', 'emergency'],
    ]);
    expect(spec.rules[2].signal).toEqual({ type: 'prometheus', url: 'http://127.0.0.1:9090', query: 'lat' });
    expect(spec).toMatchObject({ intervalSeconds: 30, coolDownSeconds: 3600, samplesPerRun: 500 });
  });

  test('the MCP runbook preset watches health, the error log and the process memory', () => {
    const spec = load({
      preset: 'mcp-runbook',
      sources: {
        healthUrls: ['http://127.0.0.1:8080/health'],
        errorLog: { file: '/var/log/svc.log' },
        memory: { pm2: { name: 'svc' } },
      },
    });
    expect(spec.rules.map((r) => [r.name, r.signal.type, r.above])).toEqual([
      ['unhealthy-instances', 'http-health', 0.5],
      ['memory', 'process-memory', 90],
      ['error-log', 'error-log', 10],
    ]);
  });

  test('mistakes are named with the fix', () => {
    expect(() => load({ preset: 'mcp-runbook' })).toThrow(
      /preset mcp-runbook found no sources to watch; give guard.sources/,
    );
    expect(() => load({})).toThrow(/no rules; give preset: ecs-runbook \| mcp-runbook/);
    expect(() => load({ rules: [{ name: 'x', above: 1 }] })).toThrow(/rules x: no signal/);
    expect(() =>
      load({ rules: [{ name: 'x', signal: { type: 'http-health', urls: ['http://a:1/h'] } }] }),
    ).toThrow(/rules x: give a threshold/);
    expect(() =>
      load({
        rules: [{ name: 'x', above: 1, below: 2, signal: { type: 'http-health', urls: ['http://a:1/h'] } }],
      }),
    ).toThrow(/give above or below, not both/);
    expect(() =>
      load({
        rules: [
          {
            name: 'x',
            above: 1,
            signal: { type: 'process-memory', pidFile: '/run/x.pid', pm2: { name: 'x' } },
          },
        ],
      }),
    ).toThrow(/exactly one of pidFile or pm2/);
    expect(() =>
      load({
        rules: [
          {
            name: 'x',
            above: 1,
            signal: { type: 'prometheus', url: 'http://p:9090', query: 'q', token: 's3cret' },
          },
        ],
      }),
    ).toThrow(/token/);
    expect(() => load({ maintenance: [{ from: '25:00', to: '01:00' }], rules: [] })).toThrow(
      /UTC time HH:MM/,
    );
  });

  test('a secret cannot be given inline: tokens come from the worker environment by name', () => {
    expect(
      guardSchema.safeParse({
        rules: [
          {
            name: 'x',
            signal: { type: 'prometheus', url: 'http://p:9090', query: 'q', tokenEnv: 'PROM_TOKEN' },
            above: 1,
          },
        ],
      }).success,
    ).toBe(true);
    expect(
      guardSchema.safeParse({
        rules: [
          {
            name: 'x',
            signal: { type: 'prometheus', url: 'http://p:9090', query: 'q', tokenEnv: 'not a name' },
            above: 1,
          },
        ],
      }).success,
    ).toBe(false);
  });
});

test('the incident of a guard rollback names the rule and lists the evidence', () => {
  const text = renderIncident({
    rollbackId: 'svc-1',
    target: 'svc',
    kind: 'emergency',
    toVersion: 'v1.11.4',
    reason: 'guard: rule errors held',
    impact: 'found by the guard',
    requestedBy: 'guard:errors',
    requestedAt: '2026-11-23T10:00:00Z',
    affectedSystems: ['svc'],
    trigger: {
      rule: 'errors',
      evidence: ['rule errors: prometheus x > 0.1 held 10 s (window 10 s)', '  2026-11-23T10:00:00Z  0.2'],
    },
  });
  expect(text).toContain('- **Trigger**: automatic, guard rule errors');
  expect(text).toContain(
    '## Evidence\n\n```\nrule errors: prometheus x > 0.1 held 10 s (window 10 s)\n  2026-11-23T10:00:00Z  0.2\n```',
  );
});
