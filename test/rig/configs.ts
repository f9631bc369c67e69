import { join } from 'node:path';

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
