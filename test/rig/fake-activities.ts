import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { guardActivities, type Activities, type GuardActivityName } from '../../src/activities';
import { defaultDeps } from '../../src/activities/deps';

/** The rollback steps' activities; a guard's own (sampling, starting a rollback) stay real. */
type ActivityName = Exclude<keyof Activities, GuardActivityName>;
import type { FailureType } from '../../src/model';

/**
 * Fast stand-ins for the activities, for the time-skipping suites and for recording replay
 * histories: each returns the shape of data its real twin returns, touches nothing, and can be
 * told to fail or to hold. Temporal itself is never faked: these run in a real worker against a
 * real server. Typed as the real activities, so a renamed activity or a changed result breaks the build.
 */

type Input<A extends ActivityName> = Parameters<Activities[A]>[0];
type Data<A extends ActivityName> = Awaited<ReturnType<Activities[A]>>['data'];

export interface FakeFailure {
  /** How many calls fail (Infinity: every call from then on). Temporal's retries are calls too. */
  times: number;
  /** Calls that succeed before the failures start (e.g. 1: the step passes, its later use fails). */
  after?: number;
  /**
   * The failure's type, as the real activity would raise it: one of the catalogue, or 'Error', the
   * type a plain Error gets (the service managers' and the health check's failures).
   */
  type: FailureType | 'Error';
  /** Fail without Temporal's retries (a failure retrying cannot fix). */
  nonRetryable?: boolean;
  message?: string;
}

export interface FakeBlock {
  /** Which call runs (heartbeating) until cancelled or released; 1, the first, unless told. */
  call?: number;
  /** Resolve to let the held call go on and succeed; without it, only a cancellation ends it. */
  until?: Promise<unknown>;
}

/** One call of a fake, as it happened: typed per activity, so `input` narrows on `activity`. */
export type FakeCall = {
  [A in ActivityName]: {
    activity: A;
    input: Input<A>;
    attempt: number;
    /** The workflow that called it (a notice's child workflow, for sendNotification). */
    workflowId?: string;
    outcome: 'running' | 'succeeded' | 'failed' | 'cancelled';
    /** Order of the call's start and end among every call's start and end. */
    startSeq: number;
    endSeq?: number;
  };
}[ActivityName];

/** A promise to hold a call with (`block: { name: { until: gate.until } }`) and its release. */
export function gate(): { until: Promise<void>; release: () => void } {
  let release!: () => void;
  const until = new Promise<void>((resolve) => (release = resolve));
  return { until, release };
}

export interface FakeOptions {
  fail?: Partial<Record<ActivityName, FakeFailure>>;
  block?: Partial<Record<ActivityName, FakeBlock>>;
  /** How long each call of these takes, in ms (heartbeating): a real step's time, done elsewhere. */
  durations?: Partial<Record<ActivityName, number>>;
  /** Filled with every call, in the order they started. */
  calls?: FakeCall[];
}

const SHA = (c: string) => c.repeat(40).slice(0, 40);
const TD = (family: string, n: number) => `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:${n}`;

/** What each activity returns when it succeeds; the compiler checks every activity is here. */
const DATA: { [A in ActivityName]: (input: Input<A>) => Data<A> } = {
  recordIncident: (i) => ({ file: `${i.reportsDir}/${i.rollbackId}/incident.md` }),
  appendRollbackLog: (i) => ({
    file: `${i.reportsDir}/rollback-log.md`,
    recordFile: `${i.reportsDir}/r/record.json`,
    analysisFile: `${i.reportsDir}/r/analysis.md`,
    criteria: '3 pass',
  }),
  inspectGitDeployment: () => ({ commit: SHA('b'), tag: 'v1.20.2', version: 'v1.20.2', dirty: false }),
  resolveGitRef: (i) => ({ commit: SHA('a'), ref: i.ref }),
  checkRevertCommits: () => ({ branchHead: SHA('a') }),
  checkoutRef: () => ({ commit: SHA('a'), previous: SHA('b'), discarded: [] }),
  analyzeContainerRollback: () => ({ findings: [] }),
  analyzeNpmPackageRollback: () => ({ findings: [] }),
  analyzeEcsRollback: () => ({ findings: [] }),
  analyzeGitRollback: () => ({
    findings: [{ id: 'deps', severity: 'info', title: 'no locked dependency changes' }],
  }),
  revertAndPush: (i) => ({
    commit: SHA('c'),
    branch: i.branch,
    reverted: [SHA('d')],
    alreadyReverted: [],
    pushed: true,
  }),
  runInstall: () => ({ seconds: 1 }),
  inspectNpmPackage: (i) => ({ version: '1.20.2', dir: `/usr/lib/node_modules/${i.name}` }),
  resolveNpmVersion: (i) => ({ version: i.version, integrity: 'sha512-fake', dependencies: {} }),
  inspectBlueGreen: (i) => ({
    live: 'green',
    standby: 'blue',
    version: 'green 1.20.2',
    liveHealthUrl: `${i.green.url}${i.healthPath}`,
    standbyHealthUrl: `${i.blue.url}${i.healthPath}`,
  }),
  switchColour: (i) => ({ live: i.to }),
  inspectContainer: () => ({
    id: SHA('f'),
    image: 'lightdash-mcp:1.20.2',
    imageId: `sha256:${SHA('1')}`,
    version: '1.20.2',
    running: true,
    healthcheck: false,
  }),
  prepareImage: () => ({ imageId: `sha256:${SHA('2')}`, pulled: false }),
  stopAndRenameContainer: () => ({}),
  restoreKeptContainer: () => ({}),
  createStableContainer: () => ({ id: SHA('3') }),
  removeRollbackContainer: () => ({}),
  waitContainerHealthy: () => ({ health: 'none' }),
  buildContainerImage: (i) => ({ image: `${i.image}:revert-${String(i.commit).slice(0, 12)}` }),
  stopColour: () => ({}),
  installNpmPackage: (i) => ({ version: i.version, dir: `/usr/lib/node_modules/${i.name}`, changed: true }),
  runBuild: () => ({ seconds: 1 }),
  backupFiles: (i) => ({
    backupPath: i.backupPath,
    createdAt: '2026-11-22T00:00:00.000Z',
    source: i.path,
    files: i.files.map((file) => ({ file, sha256: SHA('e'), size: 10, mode: 0o600 })),
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
  scanLogs: () => ({ scanned: [], matches: 0 }),
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
  waitForEcsDeployment: () => ({
    state: 'completed',
    summary: 'completed: 2/2 running, 0 pending, 0 failed task(s)',
    rolloutState: 'COMPLETED',
    running: 2,
    desired: 2,
    pending: 0,
    failedTasks: 0,
    deployments: 1,
    seconds: 30,
  }),
  checkEcsService: () => ({ running: 2, desired: 2 }),
  checkTargetGroupHealth: () => ({ healthy: 2, total: 2 }),
  checkCloudWatchAlarms: () => ({ alarms: [] }),
  runImageBuild: () => ({ image: 'registry.example.com/catalog:0123abcd0123', tag: '0123abcd0123' }),
};

export const FAKE_ACTIVITY_NAMES = Object.keys(DATA) as ActivityName[];

/** Heartbeats (so a cancellation can reach it) until cancelled, which throws, or until released. */
async function hold(until: Promise<unknown> | undefined): Promise<void> {
  const ctx = Context.current();
  let released = false;
  const release = until?.then(() => (released = true)) ?? new Promise<never>(() => undefined);
  while (!released) {
    ctx.heartbeat();
    await Promise.race([ctx.cancelled, release, new Promise((r) => setTimeout(r, 50))]);
  }
}

/** One fake per activity, failing or holding as told, each call logged in `opts.calls`. */
export function createFakeActivities(opts: FakeOptions = {}): Activities {
  const callsSoFar = new Map<ActivityName, number>();
  let seq = 0;
  const fake =
    (name: ActivityName, data: (input: unknown) => Record<string, unknown>) => async (input: unknown) => {
      const n = (callsSoFar.get(name) ?? 0) + 1;
      callsSoFar.set(name, n);
      const { attempt, workflowExecution } = Context.current().info;
      const call = {
        activity: name,
        input,
        attempt,
        workflowId: workflowExecution?.workflowId,
        outcome: 'running',
        startSeq: seq++,
      } as FakeCall;
      opts.calls?.push(call);
      const end = (outcome: FakeCall['outcome']) => {
        call.outcome = outcome;
        call.endSeq = seq++;
      };
      try {
        const block = opts.block?.[name];
        if (block && n === (block.call ?? 1)) await hold(block.until);
        const ms = opts.durations?.[name];
        if (ms) await hold(new Promise((r) => setTimeout(r, ms)));
        const failure = opts.fail?.[name];
        const after = failure?.after ?? 0;
        if (failure && n > after && n <= after + failure.times) {
          throw ApplicationFailure.create({
            message: failure.message ?? `${name} failed (fake, call ${n})`,
            type: failure.type,
            nonRetryable: failure.nonRetryable ?? false,
          });
        }
        const result = { summary: `${name} ok (fake)`, attempt, data: data(input) };
        end('succeeded');
        return result;
      } catch (err) {
        end(Context.current().cancellationSignal.aborted ? 'cancelled' : 'failed');
        throw err;
      }
    };
  const fakes = Object.fromEntries(
    FAKE_ACTIVITY_NAMES.map((name) => [
      name,
      fake(name, DATA[name] as (input: unknown) => Record<string, unknown>),
    ]),
  ) as Omit<Activities, GuardActivityName>;
  // Real: they sample what the test serves and start rollbacks on the test's own worker.
  return { ...fakes, ...guardActivities(defaultDeps()) };
}
