import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { AttemptTaggingInterceptor } from '../../src/activities/interceptors';
import type { ActivityName } from '../../src/activities';
import {
  SEARCH_ATTRIBUTES,
  WAIT_ACTIVITY,
  type FailureType,
  type RollbackEvent,
  type RollbackEventType,
  type RollbackRecord,
  type RollbackRequest,
  type UndoProgress,
} from '../../src/model';
import type { TargetConfig } from '../../src/targets/kinds';
import type { GitTarget } from '../../src/targets/kinds/git';
import { getTarget, parseConfig } from '../../src/targets/load';
import { planRollback } from '../../src/targets/plan';
import { rollbackWorkflow } from '../../src/workflows';
import { progressQuery } from '../../src/workflows/messages';
import type { RollbackInput } from '../../src/workflows/rollback';
import { eventually } from './eventually';
import { createFakeActivities, type FakeCall, type FakeOptions } from './fake-activities';

/**
 * Rollbacks on the time-skipping test server with fake activities: the workflow's state machine in
 * seconds, and the recorder of replay histories. Temporal is real (a server and a worker); only the
 * activities and the clock are not.
 */

const CONFIGS = join(__dirname, '..', 'fixtures', 'configs');

/**
 * A plan from the real planner and a fixture config (test/fixtures/configs/NAME.yaml), with the
 * target's parsed config adjusted first (approval, onFailure, validate phases...) when asked.
 */
export function fixturePlan(
  config: string,
  target: string,
  request: Partial<RollbackRequest>,
  adjust?: (target: TargetConfig) => void,
): RollbackInput {
  const file = join(CONFIGS, `${config}.yaml`);
  const parsed = parseConfig(readFileSync(file, 'utf8'), file);
  const full: RollbackRequest = {
    rollbackId: `${target}-20261122-000000-beef`,
    target,
    kind: 'emergency',
    reason: 'v1.20.2 fails health checks',
    requestedBy: 'alice',
    requestedAt: '2026-11-22T00:00:00.000Z',
    webUiBase: 'http://127.0.0.1:8233',
    ...request,
  };
  const chosen = getTarget({ file, config: parsed }, target);
  adjust?.(chosen as TargetConfig);
  return { request: full, plan: planRollback(chosen, full, parsed) };
}

/**
 * A rollback of lightdash-mcp (git-pm2.yaml): approvers carol, dave and erin, quorum 2, approval
 * timeout 1800 s then reject, decision timeout 600 s, requested by alice. Its health check stands
 * for all its checks, in one phase, and the config's global channel for all its channels, unless
 * `adjust` (given the fixture's own settings) says otherwise: the state machine treats every check
 * and channel alike, and each step, timer and delivery costs a scenario time.
 */
export function lightdashRollback(
  request: Partial<RollbackRequest> = {},
  adjust?: (target: GitTarget, fixture: Pick<GitTarget, 'validate' | 'notify'>) => void,
): RollbackInput {
  return fixturePlan('git-pm2', 'lightdash-mcp', request, (t) => {
    const target = t as GitTarget;
    const fixture = { validate: target.validate, notify: target.notify };
    target.validate = { health: target.validate.health };
    target.notify = undefined;
    adjust?.(target, fixture);
  });
}

/**
 * The activities of a plan's steps in order (a timer step is no activity): all of them, or those
 * after the step `after` and up to the step `through`.
 */
export function stepActivities(
  input: RollbackInput,
  range: { after?: string; through?: string } = {},
): ActivityName[] {
  const steps = input.plan.steps;
  const index = (id: string) => {
    const i = steps.findIndex((s) => s.id === id);
    if (i < 0) throw new Error(`no step ${id} in the plan`);
    return i;
  };
  const start = range.after ? index(range.after) + 1 : 0;
  const end = range.through ? index(range.through) + 1 : steps.length;
  return steps.slice(start, end).flatMap((s) => (s.activity === WAIT_ACTIVITY ? [] : [s.activity]));
}

/** The undos lightdashRollback's steps register, in plan order (the order they start in). */
const LIGHTDASH_UNDO_STEPS: [stepId: string, activities: ActivityName[]][] = [
  ['stop', ['startService']],
  // Back to the commit found, its config files, its dependencies and its build.
  ['checkout', ['checkoutRef', 'restoreConfigFiles', 'runInstall', 'runBuild']],
  ['restore-config', ['restoreConfigFiles']],
  ['start', ['stopService']],
];

/**
 * What lightdashRollback undoes once it has run (or started) the step `through`: the saga's order,
 * newest step first, each step's undos in their own order; as [step, activity, state], every undo
 * succeeding but those of the activities named `failing`.
 */
export function lightdashUndos(
  through: 'checkout' | 'restore-config' | 'start',
  failing: ActivityName[] = [],
): [string, ActivityName, UndoProgress['state']][] {
  const last = LIGHTDASH_UNDO_STEPS.findIndex(([id]) => id === through);
  return LIGHTDASH_UNDO_STEPS.slice(0, last + 1)
    .reverse()
    .flatMap(([stepId, activities]) =>
      activities.map((a): [string, ActivityName, UndoProgress['state']] => [
        stepId,
        a,
        failing.includes(a) ? 'failed' : 'succeeded',
      ]),
    );
}

/** The undos a rollback recorded, as [step, activity, state]. */
export function undosOf(run: RollbackRun): [string, string, UndoProgress['state']][] {
  return run.record.undos.map((u) => [u.stepId, u.activity, u.state]);
}

/**
 * The activities called, in order, leaving out the notices' deliveries. A start and the health check
 * beside it are scheduled together, and so are the incident log and the backup, so the worker may
 * begin either first: a health check called right before a start, or a backup right before the
 * incident, is listed after it, in plan order (nowhere else in a plan or its undos do they come in
 * that order). state-machine-beside.test.ts checks that both pairs overlap.
 */
export function activitiesCalled(calls: FakeCall[]): ActivityName[] {
  const made = calls.filter((c) => c.activity !== 'sendNotification').map((c) => c.activity);
  for (let i = 0; i + 1 < made.length; i++) {
    if (made[i] === 'checkHealth' && made[i + 1] === 'startService')
      [made[i], made[i + 1]] = ['startService', 'checkHealth'];
    if (made[i] === 'backupFiles' && made[i + 1] === 'recordIncident')
      [made[i], made[i + 1]] = ['recordIncident', 'backupFiles'];
  }
  return made;
}

export function testServerPath(): string {
  return (
    process.env.TEMPORAL_TEST_SERVER_PATH ??
    join(__dirname, '..', '..', '.tools', 'test-server-venv', 'bin', 'temporal-test-server')
  );
}

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/**
 * A time-skipping test server of its own (~0.1 s to start), with our search attributes: abandoned
 * notification children of one rollback were seen to stall Updates of the next on a shared one.
 */
export async function withTimeSkipping<T>(fn: (env: TestWorkflowEnvironment) => Promise<T>): Promise<T> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath() } },
  });
  try {
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        SEARCH_ATTRIBUTES.map((k) => [k.name, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
    return await fn(env);
  } finally {
    await env.teardown();
  }
}

/** The SDK's own warnings (the test server's missing capabilities) are noise here. */
export function quietRuntime(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
    });
  } catch {
    /* installed already in this process */
  }
}

let bundled: Promise<WorkflowBundleOption> | undefined;

/**
 * The workflow code, bundled once per process: Jest's global setup prebuilds it, tsx scripts bundle
 * here. As a file, because a worker given the code itself re-encodes its source map every time.
 */
export function workflowBundle(): Promise<WorkflowBundleOption> {
  const prebuilt = process.env.ROLLBACK_WORKFLOW_BUNDLE;
  return (bundled ??= prebuilt
    ? Promise.resolve({ codePath: prebuilt })
    : bundleWorkflowCode({
        workflowsPath: require.resolve('../../src/workflows'),
        logger: new DefaultLogger('ERROR'),
      }).then(({ code }) => {
        const dir = mkdtempSync(join(tmpdir(), 'rollback-bundle-'));
        process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
        const codePath = join(dir, 'workflow-bundle.js');
        writeFileSync(codePath, code);
        return { codePath };
      }));
}

/** A worker of the real workflow code and the fake activities, on the time-skipping server. */
export async function fakeWorker(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  fakes: FakeOptions,
): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createFakeActivities(fakes),
    interceptors: { activity: [() => ({ inbound: new AttemptTaggingInterceptor() })] },
    // Workflows in the same V8 sandbox, but on this thread: no worker thread to start (~0.5 s a worker).
    debugMode: true,
    // A cancellation reaches an activity with its next heartbeat; unthrottled, that is at once.
    maxHeartbeatThrottleInterval: '100ms',
  });
}

/** How long a driver waits for the rollback to reach a point (fakes answer in milliseconds). */
const WAIT_MS = 15_000;

export type RollbackHandle = WorkflowHandle<typeof rollbackWorkflow>;

/** What a scenario's driver gets: the environment, the running rollback, and the fakes' calls so far. */
export interface Driver {
  env: TestWorkflowEnvironment;
  handle: RollbackHandle;
  calls: FakeCall[];
  /** The progress record, once `holds` is true of it. */
  progressWhen(what: string, holds: (record: RollbackRecord) => boolean): Promise<RollbackRecord>;
  /** Once the `nth` notice of this type was delivered: the workflow has gone past sending it. */
  noticeDelivered(type: RollbackEventType, nth?: number): Promise<void>;
  /** Once the `nth` call of this activity has started. */
  called(activity: ActivityName, nth?: number): Promise<void>;
}

/** How a rollback ended, from the workflow's own result or failure. */
export interface RollbackRun {
  record: RollbackRecord;
  /** The workflow's failure type, or undefined when it succeeded. */
  failure?: FailureType;
  calls: FakeCall[];
  /** Every notice the rollback sent, in the order it sent them, once each was delivered. */
  notices: RollbackEventType[];
  noticeEvents: RollbackEvent[];
  /** The workflow's history, and its events by type (e.g. ACTIVITY_TASK_CANCEL_REQUESTED). */
  history: temporal.api.history.v1.IHistory;
  historyEvents: string[];
}

export interface RunOptions {
  fakes?: Omit<FakeOptions, 'calls'>;
  /** Runs once the rollback is started, before any worker polls for it. */
  beforeWorker?: (handle: RollbackHandle) => Promise<unknown>;
  /** What people do while it runs; the rollback's result is awaited (time skips) after it. */
  drive?: (driver: Driver) => Promise<void>;
  workflowId?: string;
}

/**
 * Runs one rollback to its end on a server of its own and says how it ended: the record, the
 * failure type, the activities called, the notices delivered.
 */
export async function runRollback(input: RollbackInput, opts: RunOptions = {}): Promise<RollbackRun> {
  const calls: FakeCall[] = [];
  return withTimeSkipping(async (env) => {
    const taskQueue = 'state-machine';
    const handle = await env.client.workflow.start(rollbackWorkflow, {
      taskQueue,
      workflowId: opts.workflowId ?? `rollback-${input.plan.target}`,
      args: [input],
    });
    await opts.beforeWorker?.(handle);
    const worker = await fakeWorker(env, taskQueue, { ...opts.fakes, calls });
    return worker.runUntil(async () => {
      await opts.drive?.({
        env,
        handle,
        calls,
        // Queries cost the worker and the server a workflow task each: asked less often than
        // the fakes' calls, which cost nothing to look at.
        progressWhen: (what, holds) =>
          eventually(
            what,
            async () => {
              const record = await handle.query(progressQuery);
              return holds(record) && record;
            },
            WAIT_MS,
            50,
          ),
        noticeDelivered: async (type, nth = 1) => {
          await eventually(
            `notice ${nth} of type ${type}`,
            () => {
              const notices = calls.flatMap((c) =>
                c.activity === 'sendNotification' && c.input.event.type === type ? [c.workflowId] : [],
              );
              return new Set(notices).size >= nth;
            },
            WAIT_MS,
            10,
          );
        },
        called: async (activity, nth = 1) => {
          await eventually(
            `call ${nth} of ${activity}`,
            () => calls.filter((c) => c.activity === activity).length >= nth,
            WAIT_MS,
            10,
          );
        },
      });
      const ended = await handle.result().then(
        (record) => ({ record, failure: undefined }),
        (err: unknown) => {
          const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
          if (!(cause instanceof ApplicationFailure)) throw err;
          return {
            record: cause.details?.[0] as RollbackRecord,
            failure: (cause.type ?? undefined) as FailureType,
          };
        },
      );
      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const children = events.flatMap((e) => {
        const id = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
        return id ? [id] : [];
      });
      // Notices are abandoned children: they may still be delivering when the rollback has ended.
      // One at a time: each result() unlocks time skipping, and concurrent unlocks unbalance the
      // test server's lock count.
      for (const id of children) await env.client.workflow.getHandle(id).result();
      const noticeEvents = children.flatMap((id) =>
        calls
          .flatMap((c) => (c.activity === 'sendNotification' && c.workflowId === id ? [c.input.event] : []))
          .slice(0, 1),
      );
      const notices = noticeEvents.map((e) => e.type);
      const historyEvents = events.map((e) =>
        (temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? '?').replace(/^EVENT_TYPE_/, ''),
      );
      return { ...ended, calls, notices, noticeEvents, history, historyEvents };
    });
  });
}
