import { ApplicationFailure } from '@temporalio/common';
import type { StepResult } from './plan';

/** Replaces `{ $ref: "step.field" }` values with earlier steps' result data. */
export function resolveRefs(value: unknown, results: Map<string, StepResult>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, results));
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj.$ref === 'string' && Object.keys(obj).length === 1) {
      const [stepId, ...field] = obj.$ref.split('.');
      const result = results.get(stepId!);
      if (!result)
        throw ApplicationFailure.nonRetryable(
          `plan refers to ${obj.$ref} before step ${stepId} ran`,
          'PlanError',
        );
      let v: unknown = result.data;
      for (const f of field) v = (v as Record<string, unknown> | undefined)?.[f];
      return v;
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveRefs(v, results)]));
  }
  return value;
}
