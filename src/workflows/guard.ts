import {
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  ParentClosePolicy,
  ChildWorkflowCancellationType,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  addSample,
  breaches,
  conditionText,
  evidenceOf,
  GUARD_KEEP_ACTIONS,
  heldSeconds,
  holdingRules,
  hostQueue,
  inMaintenance,
  initialGuardState,
  type GuardAction,
  type GuardRule,
  type GuardSpec,
  type GuardState,
  type GuardStatus,
  type ChannelRef,
  type RollbackEvent,
  type RollbackEventType,
} from '../model';
import { notifyWorkflow } from './notify';

/** Shared by the guard workflow, the CLI and the tests. */
export const guardStatusQuery = defineQuery<GuardStatus>('guardStatus');
/** Pause: the guard keeps sampling and recording, and acts on nothing, until resumed. */
export const guardPauseUpdate = defineUpdate<GuardStatus, [{ by: string; reason?: string }]>('guardPause');
export const guardResumeUpdate = defineUpdate<GuardStatus, [{ by: string }]>('guardResume');
/** Stop: the guard ends after the sample it is taking. */
export const guardStopUpdate = defineUpdate<GuardStatus, [{ by: string }]>('guardStop');

export interface GuardInput {
  spec: GuardSpec;
  /** Carried over by continue-as-new: the windows, the cool-down and the actions so far. */
  state?: GuardState;
}

// Short: a sample lost with its worker is taken again by the next one within seconds (every
// source's own timeout is shorter: health checks at most 15 s, Prometheus 10 s).
const { sampleSignals } = proxyActivities<Activities>({
  startToCloseTimeout: '20s',
  // Every activity heartbeats each second (the worker's interceptor): a dead worker is seen in 6 s.
  heartbeatTimeout: '6s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
});

const { startGuardRollback, guardRollbackRunning } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s', maximumAttempts: 6 },
});

type SampleRequests = Parameters<typeof sampleSignals>[0]['samples'];

/**
 * One sample of every rule: the signals read on a host's own worker (its process memory, its error
 * log) are sampled by that worker, from its queue; the rest here. A host worker that does not take
 * its share in time (twice the interval, 15 s to a minute) gives those rules no value this time, and a note that says why.
 */
async function sampleAll(samples: SampleRequests, hostWaitSeconds: number): ReturnType<typeof sampleSignals> {
  const byQueue = new Map<string, SampleRequests>();
  for (const req of samples) {
    const on = 'on' in req.signal ? req.signal.on : undefined;
    const key = on && 'worker' in on ? on.worker : '';
    byQueue.set(key, [...(byQueue.get(key) ?? []), req]);
  }
  const parts = await Promise.all(
    [...byQueue].map(async ([worker, reqs]) => {
      if (!worker) return sampleSignals({ samples: reqs });
      const onHost = proxyActivities<Activities>({
        taskQueue: hostQueue(worker),
        scheduleToCloseTimeout: hostWaitSeconds * 1000,
        startToCloseTimeout: '20s',
        heartbeatTimeout: '6s',
        retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
      });
      try {
        return await onHost.sampleSignals({ samples: reqs });
      } catch (err) {
        const note = `no answer from the worker on ${worker} (${hostQueue(worker)}): ${(err as Error).message}`;
        return reqs.map((r) => ({
          rule: r.rule,
          note,
          ...(r.offset !== undefined ? { offset: r.offset } : {}),
        }));
      }
    }),
  );
  return parts.flat();
}

export function guardStatus(spec: GuardSpec, state: GuardState, now: Date): GuardStatus {
  const coolUntil = state.lastRollbackAt
    ? new Date(Date.parse(state.lastRollbackAt) + spec.coolDownSeconds * 1000)
    : undefined;
  return {
    target: spec.target,
    state,
    rules: spec.rules.map((r) => ({
      name: r.name,
      condition: conditionText(r),
      forSeconds: r.forSeconds,
      heldSeconds: Math.round(heldSeconds(state.rules[r.name], now)),
      last: state.rules[r.name]?.samples.at(-1),
    })),
    inMaintenance: inMaintenance(spec.maintenance, now),
    ...(coolUntil && coolUntil > now ? { coolingDownUntil: coolUntil.toISOString() } : {}),
  };
}

function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/**
 * A target's guard: samples every rule's signal each interval; a rule whose condition holds for its
 * whole window starts the rollback it names (or proposes it), once per cool-down. Runs for months:
 * it continues as new every `samplesPerRun` samples, carrying its windows over.
 */
export async function guardWorkflow(input: GuardInput): Promise<GuardState> {
  const { spec } = input;
  let state: GuardState = input.state ?? initialGuardState(new Date());
  let stopping = false;
  const status = () => guardStatus(spec, state, new Date());
  setHandler(guardStatusQuery, status);
  setHandler(guardPauseUpdate, ({ by, reason }) => {
    state = { ...state, paused: true, pausedBy: by };
    record({ rule: '-', action: 'recorded', detail: `paused by ${by}${reason ? `: ${reason}` : ''}` });
    return status();
  });
  setHandler(guardResumeUpdate, ({ by }) => {
    state = { ...state, paused: false };
    delete state.pausedBy;
    record({ rule: '-', action: 'recorded', detail: `resumed by ${by}` });
    return status();
  });
  setHandler(guardStopUpdate, ({ by }) => {
    stopping = true;
    record({ rule: '-', action: 'recorded', detail: `stopped by ${by}` });
    return status();
  });

  function record(a: Omit<GuardAction, 'at'>) {
    state = {
      ...state,
      actions: [...state.actions, { at: new Date().toISOString(), ...a }].slice(-GUARD_KEEP_ACTIONS),
    };
  }

  async function notify(type: RollbackEventType, rule: GuardRule, comment: string) {
    if (spec.notify.length === 0) return;
    const info = workflowInfo();
    const event: RollbackEvent = {
      type,
      at: new Date().toISOString(),
      rollbackId: '',
      workflowId: info.workflowId,
      target: spec.target,
      kind: rule.kind,
      toVersion: rule.to ?? 'its stable version',
      requestedBy: `guard:${rule.name}`,
      reason: comment,
      status: 'guarding',
      comment,
      ...(spec.webUiBase
        ? {
            webUrl: `${spec.webUiBase}/namespaces/${encodeURIComponent(info.namespace)}/workflows/${encodeURIComponent(info.workflowId)}`,
          }
        : {}),
    };
    await CancellationScope.nonCancellable(() =>
      startChild(notifyWorkflow, {
        workflowId: `${info.workflowId}-${info.runId}-notify-${state.samplesTaken}-${rule.name}-${type}`,
        args: [{ channels: spec.notify as ChannelRef[], event }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
      }),
    );
  }

  /** The rule held for its window: act once, and let its window start over. */
  async function act(rule: GuardRule, now: Date) {
    const evidence = evidenceOf(rule, state.rules[rule.name], now);
    const summary = evidence[0];
    state = { ...state, rules: { ...state.rules, [rule.name]: { samples: state.rules[rule.name].samples } } };
    const coolingDown =
      state.lastRollbackAt !== undefined &&
      now.getTime() - Date.parse(state.lastRollbackAt) < spec.coolDownSeconds * 1000;
    if (state.paused || inMaintenance(spec.maintenance, now)) {
      record({
        rule: rule.name,
        action: 'recorded',
        detail: `${state.paused ? 'paused' : 'in maintenance'}; ${summary}`,
      });
      return notify('guard-recorded', rule, summary);
    }
    if (rule.action === 'propose') {
      record({ rule: rule.name, action: 'proposed', detail: summary });
      return notify('guard-proposed', rule, summary);
    }
    if (coolingDown && state.lastRollback && (await guardRollbackRunning(state.lastRollback))) {
      // The service is being rolled back: what the rule sees is that rollback at work.
      record({
        rule: rule.name,
        action: 'already-running',
        detail: `the rollback it started (${state.lastRollback.workflowId}) is still running; ${summary}`,
        workflowId: state.lastRollback.workflowId,
      });
      return;
    }
    if (coolingDown) {
      record({
        rule: rule.name,
        action: 'escalated',
        detail: `within the cool-down of the rollback at ${state.lastRollbackAt}; ${summary}`,
      });
      return notify('guard-escalated', rule, summary);
    }
    const outcome = await startGuardRollback({
      configFile: spec.configFile,
      target: spec.target,
      rule: rule.name,
      kind: rule.kind,
      ...(rule.to ? { to: rule.to } : {}),
      rollbackId: `${spec.target}-${stamp(now)}-guard`,
      requestedAt: now.toISOString(),
      reason: `guard: ${summary}`,
      evidence,
      webUiBase: spec.webUiBase,
      taskQueue: workflowInfo().taskQueue,
    });
    const action =
      outcome.outcome === 'started'
        ? 'rollback-started'
        : outcome.outcome === 'refused'
          ? 'rollback-refused'
          : 'already-running';
    record({
      rule: rule.name,
      action,
      detail: outcome.detail,
      ...(outcome.workflowId ? { workflowId: outcome.workflowId } : {}),
    });
    if (outcome.outcome === 'started') {
      // The service is changing under every rule: each window starts over, and the cool-down begins.
      const rules = Object.fromEntries(
        Object.entries(state.rules).map(([name, s]) => [name, { samples: s.samples }]),
      );
      state = {
        ...state,
        rules,
        lastRollbackAt: now.toISOString(),
        ...(outcome.workflowId
          ? {
              lastRollback: {
                workflowId: outcome.workflowId,
                ...(outcome.runId ? { runId: outcome.runId } : {}),
              },
            }
          : {}),
      };
    }
  }

  let samplesThisRun = 0;
  while (!stopping) {
    const previous = state.samplesTaken > 0 ? Date.parse(latestSampleAt(state)) : undefined;
    const results = await sampleAll(
      spec.rules.map((r) => ({
        rule: r.name,
        signal: r.signal,
        offset: state.offsets[r.name],
        sinceMs: previous,
      })),
      Math.min(60, Math.max(15, spec.intervalSeconds * 2)),
    );
    const now = new Date();
    const at = now.toISOString();
    const rules = { ...state.rules };
    const offsets = { ...state.offsets };
    for (const r of spec.rules) {
      const result = results.find((x) => x.rule === r.name);
      if (result?.offset !== undefined) offsets[r.name] = result.offset;
      rules[r.name] = addSample(rules[r.name], {
        at,
        ...(result?.value !== undefined ? { value: result.value } : {}),
        breached: breaches(r, result?.value),
        ...(result?.note ? { note: result.note } : {}),
      });
    }
    state = { ...state, rules, offsets, samplesTaken: state.samplesTaken + 1 };
    for (const rule of holdingRules(spec.rules, state, now)) await act(rule, now);
    samplesThisRun++;
    if (stopping) break;
    if (samplesThisRun >= spec.samplesPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof guardWorkflow>({ spec, state });
    }
    await condition(() => stopping, spec.intervalSeconds * 1000);
  }
  await condition(allHandlersFinished);
  return state;
}

function latestSampleAt(state: GuardState): string {
  const times = Object.values(state.rules).flatMap((r) => r.samples.map((s) => s.at));
  return times.sort().at(-1) ?? state.startedAt;
}
