import { z } from 'zod';
import { ROLLBACK_KINDS, type RollbackRequest } from '../../model';
import { oneLine } from '../../model/text';
import { ConfigError } from '../errors';
import { ecsKind } from './ecs';
import { gitKind } from './git';
import { npmPackageKind } from './npm-package';
import { blueGreenKind } from './blue-green';
import { containerKind } from './container';
import type { BaseTarget, KindPlan, TargetKind } from './kind';

export type { BaseTarget, KindPlan, KindPlanner, TargetKind } from './kind';

/**
 * Every target kind, by `deploy.type`. A new kind is a folder beside git/ and ecs/ and one line
 * here; nothing else branches on `deploy.type`.
 */
export const BUILTIN_KINDS = {
  git: gitKind,
  'npm-package': npmPackageKind,
  'blue-green': blueGreenKind,
  container: containerKind,
  ecs: ecsKind,
};

export type DeployType = keyof typeof BUILTIN_KINDS;
export type TargetConfig = {
  [T in DeployType]: (typeof BUILTIN_KINDS)[T] extends TargetKind<infer C> ? C : never;
}[DeployType];

/**
 * A set of target kinds: picks the kind of a target and gives its schema, planners and checks.
 * The built-in set serves the product; tests build one with a throwaway kind added.
 */
export class TargetKinds {
  constructor(private readonly kinds: Record<string, TargetKind<any, any>>) {}

  get types(): string[] {
    return Object.keys(this.kinds);
  }

  /**
   * The schema of one target: picked by `deploy.type` rather than with z.union, so an error's path
   * points into the schema the user meant (`targets.x.deploy: unknown field "deadline"`), not into
   * every alternative.
   */
  targetSchema(): z.ZodType<BaseTarget> {
    return z.unknown().transform((raw, ctx): BaseTarget => {
      const type = (raw as { deploy?: { type?: unknown } } | null)?.deploy?.type;
      const kind = typeof type === 'string' && Object.hasOwn(this.kinds, type) ? this.kinds[type] : undefined;
      if (!kind) {
        ctx.addIssue({
          code: 'custom',
          path: ['deploy', 'type'],
          message:
            type === undefined
              ? `say how the target is deployed: deploy.type is one of ${this.types.join(', ')}`
              : `unknown deploy.type ${JSON.stringify(type)}; use one of ${this.types.join(', ')}`,
        });
        return z.NEVER;
      }
      const r = kind.schema.safeParse(raw);
      if (!r.success) {
        for (const issue of r.error.issues) ctx.addIssue({ ...issue } as never);
        return z.NEVER;
      }
      return r.data as BaseTarget;
    });
  }

  /** The schema of one `deploy.type`. */
  schemaOf(type: string): z.ZodType {
    if (!Object.hasOwn(this.kinds, type)) throw new ConfigError(`unknown deploy.type "${type}"`);
    return this.kinds[type]!.schema;
  }

  kindOf(target: BaseTarget): TargetKind<BaseTarget, any> {
    const kind = Object.hasOwn(this.kinds, target.deploy.type) ? this.kinds[target.deploy.type] : undefined;
    if (!kind)
      throw new ConfigError(
        `unknown deploy.type "${target.deploy.type}"; use one of ${this.types.join(', ')}`,
      );
    return kind;
  }

  /** The kind's own part of the plan (its steps, where it goes); planRollback adds the rest. */
  plan(target: BaseTarget, request: RollbackRequest): KindPlan {
    const planners = this.kindOf(target).plan;
    if (!Object.hasOwn(planners, request.kind)) {
      throw new ConfigError(
        `unknown rollback kind "${oneLine(String(request.kind))}"; use one of: ${ROLLBACK_KINDS.join(', ')}`,
      );
    }
    // A kind brought by a test may name activities of its own: plans are data to the workflow.
    return planners[request.kind](target, request) as KindPlan;
  }

  preflight(name: string, target: BaseTarget): string[] {
    return this.kindOf(target).preflight(name, target);
  }
}

export const targetKinds = new TargetKinds(BUILTIN_KINDS);
