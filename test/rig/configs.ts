import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Plan, RollbackRequest } from '../../src/model';
import { getTarget, parseConfig } from '../../src/targets/load';
import { planRollback } from '../../src/targets/plan';

/**
 * A git target run by the `command` manager with `true` for start, stop and status, and a health
 * URL nobody answers: enough for the CLI to plan and start, nothing a test has to stop afterwards.
 * Backups and reports go under `root/TARGET/`.
 */
export function commandTarget(target: string, deployPath: string, root: string) {
  return {
    deploy: { type: 'git', path: deployPath, stableVersion: 'v1.11.4' },
    service: { manager: 'command', start: ['true'], stop: ['true'], status: ['true'] },
    backupDir: join(root, target, 'backups'),
    reportsDir: join(root, target, 'reports'),
    validate: { health: { url: 'http://127.0.0.1:9/health' } },
  };
}

/**
 * A request and its plan for a `commandTarget`, as `rollback start` makes them (alice asks, for an
 * emergency rollback unless `request` says otherwise); `config` adds top-level sections.
 */
export function commandRollback(
  target: string,
  deployPath: string,
  root: string,
  opts: { request?: Partial<RollbackRequest>; config?: Record<string, unknown> } = {},
): { request: RollbackRequest; plan: Plan } {
  const config = parseConfig(
    stringify({ version: 1, ...opts.config, targets: { [target]: commandTarget(target, deployPath, root) } }),
    'inline.yaml',
  );
  const request: RollbackRequest = {
    rollbackId: `${target}-${Date.now()}`,
    target,
    kind: 'emergency',
    reason: 'v1.20.2 fails',
    requestedBy: 'alice',
    requestedAt: new Date().toISOString(),
    ...opts.request,
  };
  const plan = planRollback(getTarget({ file: 'inline.yaml', config }, target), request, config);
  return { request, plan };
}
