import { createActivities, defaultDeps } from '../activities';
import {
  ANALYZE_STEP,
  blockingFindings,
  formatFinding,
  leadingChecks,
  oneLine,
  refusalMessage,
  resolveRefs,
  sortFindings,
  WAIT_ACTIVITY,
  type Finding,
  type Plan,
  type StepResult,
} from '../model';

/**
 * What `rollback plan` adds to the plan: its read-only checks (the deployed version, the version
 * asked for, the pre-flight analysis) run here, by the same activity code a worker runs, so the
 * findings an approver will see are known before anyone starts anything. Nothing is written.
 */

export interface CheckPreview {
  id: string;
  title: string;
  state: 'passed' | 'failed' | 'not run';
  summary?: string;
  error?: string;
}

export interface PlanPreview {
  checks: CheckPreview[];
  findings?: Finding[];
  /** Why `rollback start` would refuse this request; absent when it would start. */
  refused?: string;
}

type AnyActivity = (input: unknown, on?: unknown) => Promise<StepResult>;

export async function previewChecks(plan: Plan): Promise<PlanPreview> {
  const activities = createActivities(defaultDeps()) as unknown as Record<string, AnyActivity>;
  const results = new Map<string, StepResult>();
  const preview: PlanPreview = { checks: [] };
  for (const step of leadingChecks(plan.steps)) {
    if (preview.refused || step.activity === WAIT_ACTIVITY) {
      preview.checks.push({ id: step.id, title: step.title, state: 'not run' });
      continue;
    }
    if (step.on && 'worker' in step.on) {
      preview.checks.push({
        id: step.id,
        title: step.title,
        state: 'not run',
        summary: `runs on host ${step.on.worker}'s worker when the rollback starts`,
      });
      continue;
    }
    try {
      const input = resolveRefs(step.input, results) as Record<string, unknown>;
      // The analysis reports every finding here; the refusal is computed below, the same way.
      const result = await activities[step.activity]!(
        step.id === ANALYZE_STEP ? { ...input, report: true } : input,
        step.on,
      );
      results.set(step.id, result);
      preview.checks.push({ id: step.id, title: step.title, state: 'passed', summary: result.summary });
      if (step.id === ANALYZE_STEP && Array.isArray(result.data.findings)) {
        const findings = result.data.findings as Finding[];
        preview.findings = findings;
        const blocking = blockingFindings(findings);
        if (blocking.length > 0) preview.refused = refusalMessage(blocking, plan.target);
      }
    } catch (err) {
      const message = (err as Error).message;
      preview.checks.push({ id: step.id, title: step.title, state: 'failed', error: message });
      preview.refused = `${step.title}: ${message}`;
    }
  }
  return preview;
}

export function formatPreview(preview: PlanPreview): string {
  const lines = ['Read-only checks, run now:'];
  for (const c of preview.checks) {
    const mark = c.state === 'passed' ? '✔' : c.state === 'failed' ? '✘' : '·';
    lines.push(
      `  ${mark} ${oneLine(`${c.title}${c.summary ? `: ${c.summary}` : ''}${c.error ? `: ${c.error}` : ''}`)}`,
    );
  }
  if (preview.findings) {
    lines.push('Pre-flight analysis:');
    if (preview.findings.length === 0) lines.push('  nothing to flag');
    for (const f of sortFindings(preview.findings)) {
      // Names from the repository (files, packages) reach a terminal: one line each, no escapes.
      lines.push(`  ${oneLine(formatFinding(f))}`);
      for (const d of f.details ?? []) lines.push(`      ${oneLine(String(d))}`);
    }
  }
  lines.push(
    preview.refused
      ? `This rollback would be refused: ${oneLine(preview.refused)}`
      : 'The checks pass: `rollback start` would go on.',
  );
  return lines.join('\n');
}
