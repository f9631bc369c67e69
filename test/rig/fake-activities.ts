import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

/**
 * Fast stand-ins for the activities, for the time-skipping suite and for recording replay
 * histories: each returns the shape of data its real twin returns, touches nothing, and can be
 * told to fail. Temporal itself is never faked: these run in a real worker against a real server.
 */

export interface FakeFailure {
  /** How many attempts fail before one succeeds (Infinity: every attempt). */
  times: number;
  /** Fail without Temporal's retries (a failure retrying cannot fix). */
  nonRetryable?: boolean;
  message?: string;
}

export interface FakeOptions {
  /** Failures by activity name. */
  fail?: Record<string, FakeFailure>;
  /** Activities whose first call runs until cancelled (heartbeating), e.g. to cancel during a step. */
  block?: string[];
  /** Every call, in order: activity name and input. */
  calls?: { activity: string; input: Record<string, any> }[];
}

const SHA = (c: string) => c.repeat(40).slice(0, 40);
const TD = (family: string, n: number) => `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:${n}`;

type Data = Record<string, unknown>;

const DATA: Record<string, (input: Record<string, any>) => Data> = {
  recordIncident: (i) => ({ file: `${i.reportsDir}/${i.rollbackId}/incident.md` }),
  appendRollbackLog: (i) => ({
    file: `${i.reportsDir}/rollback-log.md`,
    recordFile: `${i.reportsDir}/r/record.json`,
    analysisFile: `${i.reportsDir}/r/analysis.md`,
    criteria: '3 pass',
  }),
  inspectGitDeployment: () => ({ commit: SHA('b'), tag: 'v1.20.2', version: 'v1.20.2', dirty: false }),
  resolveGitRef: (i) => ({ commit: SHA('a'), ref: i.ref }),
  checkoutRef: () => ({ commit: SHA('a'), previous: SHA('b'), discarded: [] }),
  revertAndPush: (i) => ({
    commit: SHA('c'),
    branch: i.branch,
    reverted: [SHA('d')],
    alreadyReverted: [],
    pushed: true,
  }),
  runInstall: () => ({ seconds: 1 }),
  runBuild: () => ({ seconds: 1 }),
  backupFiles: (i) => ({
    backupPath: i.backupPath,
    createdAt: '2026-11-22T00:00:00.000Z',
    source: i.path,
    files: (i.files as string[]).map((file) => ({ file, sha256: SHA('e'), size: 10, mode: 0o600 })),
  }),
  restoreConfigFiles: (i) => ({ restored: i.files, unchanged: [], kept: [] }),
  setEnvFlags: (i) => ({ changed: Object.keys(i.flags) }),
  stopService: () => ({ before: 'known' }),
  startService: () => ({ before: 'stopped' }),
  restartService: () => ({ before: 'online' }),
  checkHealth: (i) => ({ status: 'healthy', version: i.expectedVersion ?? null, waitedMs: 5 }),
  checkMcp: (i) => ({
    transport: i.transport,
    tools: 13,
    toolNames: [],
    serverName: 'lightdash-mcp',
    serverVersion: '1.11.4',
    probe: null,
    probes: [],
  }),
  checkLatency: () => ({ averageMs: 3, p95Ms: 5, maxMs: 6, samples: 5 }),
  sendNotification: () => ({}),
  markLogOffsets: (i) => ({ files: i.files ?? [], offsets: {}, markedAt: '2026-11-22T00:00:00.000Z' }),
  scanLogs: (i) => ({ scanned: [], matches: 0, files: i.files }),
  inspectEcsService: () => ({
    serviceArn: 'arn:aws:ecs:eu-west-1:123456789012:service/prod/catalog',
    clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod',
    taskDefinitionArn: TD('catalog', 42),
    family: 'catalog',
    revision: 42,
    version: 'catalog:42',
    containerName: 'app',
    image: 'registry.example.com/catalog:bad',
    desiredCount: 2,
    runningCount: 2,
  }),
  findEcsRollbackRevision: () => ({
    taskDefinitionArn: TD('catalog', 41),
    family: 'catalog',
    revision: 41,
    version: 'catalog:41',
  }),
  registerEcsTaskDefinitionVariant: () => ({
    taskDefinitionArn: TD('catalog', 43),
    family: 'catalog',
    revision: 43,
    version: 'catalog:43',
    reused: false,
  }),
  updateEcsService: (i) => ({
    deploymentId: 'ecs-svc/1234',
    taskDefinitionArn: i.taskDefinitionArn,
    previous: TD('catalog', 42),
    changed: true,
  }),
  waitForEcsDeployment: () => ({ state: 'completed', running: 2, desired: 2, pending: 0, seconds: 30 }),
  checkEcsService: () => ({ running: 2, desired: 2 }),
  checkTargetGroupHealth: () => ({ healthy: 2, total: 2 }),
  checkCloudWatchAlarms: () => ({ alarms: [] }),
  runImageBuild: () => ({ image: 'registry.example.com/catalog:0123abcd0123', tag: '0123abcd0123' }),
};

export const FAKE_ACTIVITY_NAMES = Object.keys(DATA);

async function blockUntilCancelled(): Promise<never> {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat();
    await Promise.race([ctx.cancelled, new Promise((r) => setTimeout(r, 100))]);
  }
}

/** One fake per activity name, failing or blocking as told. */
export function createFakeActivities(opts: FakeOptions = {}): Record<string, (input: any) => Promise<any>> {
  const failuresSoFar = new Map<string, number>();
  const blocked = new Set<string>();
  return Object.fromEntries(
    Object.entries(DATA).map(([name, data]) => [
      name,
      async (input: Record<string, any>) => {
        opts.calls?.push({ activity: name, input });
        if (opts.block?.includes(name) && !blocked.has(name)) {
          blocked.add(name);
          await blockUntilCancelled();
        }
        const failure = opts.fail?.[name];
        const n = failuresSoFar.get(name) ?? 0;
        if (failure && n < failure.times) {
          failuresSoFar.set(name, n + 1);
          throw ApplicationFailure.create({
            message: failure.message ?? `${name} failed (fake)`,
            type: 'FakeFailure',
            nonRetryable: failure.nonRetryable ?? false,
          });
        }
        let attempt = 1;
        try {
          attempt = Context.current().info.attempt;
        } catch {
          /* outside an activity */
        }
        return { summary: `${name} ok (fake)`, attempt, data: data(input) };
      },
    ]),
  );
}
