import type { z } from 'zod';
import type { Activities } from '../../activities';
import type { ActivityMap, PlanStep, RollbackKind, RollbackRequest } from '../../model';
import type { CommonTargetConfig } from '../common';

/** The fields every target has, whatever its kind. */
export type BaseTarget = CommonTargetConfig & { deploy: { type: string } };

/** What a kind's planner returns; the registry adds the incident step and the policies. */
export interface KindPlan<Acts extends ActivityMap = Activities> {
  toVersion: string;
  /** Where the pre-rollback state is kept. */
  backupPath: string;
  /** What the incident log names as affected, besides the target itself. */
  affected: string[];
  /** Every step after the incident record. */
  steps: PlanStep<Acts>[];
}

/** One planner per rollback kind: pure, no I/O, no clock. Throws ConfigError on a bad request. */
export type KindPlanner<Config, Acts extends ActivityMap = Activities> = (
  target: Config,
  request: RollbackRequest,
) => KindPlan<Acts>;

/**
 * A read-only question `config check` and `start` ask a target's SSH host before anything runs:
 * a command that exits 0 when the answer is yes.
 */
export interface HostProbe {
  argv: string[];
  cwd?: string;
  /** Said when it exits 0. */
  ok?: string;
  /** Said when it does not: what is wrong, and the fix. */
  problem: string;
  /** The later probes are pointless when this one fails (no folder: nothing to look for in it). */
  fatal?: boolean;
}

/**
 * A target kind (a `deploy.type`): its config schema, its planners and its read-only preflight
 * checks. Adding a kind is a folder beside git/ and ecs/ and one line in the registry.
 */
export interface TargetKind<Config extends BaseTarget = BaseTarget, Acts extends ActivityMap = Activities> {
  /** The whole target's schema: a strict object whose `deploy.type` names this kind. */
  schema: z.ZodType<Config>;
  plan: { [K in RollbackKind]: KindPlanner<Config, Acts> };
  /** Problems with what the target names on this host (paths, programs), each saying the fix. */
  preflight(name: string, target: Config): string[];
  /** What to ask the target's SSH host (its folders, rights, programs); `login` is the SSH user. */
  hostProbes?(target: Config, login: string): HostProbe[];
}
