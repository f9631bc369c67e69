/**
 * Where a target lives, as plans carry it: on the worker's own machine (no `on`), on a host the
 * worker reaches over SSH, or on a host whose own worker polls a task queue of its own. Only names,
 * addresses, paths and fingerprints: no password or key material is ever part of a host.
 */

export interface SshHostSpec {
  host: string;
  port: number;
  user: string;
  /** A private key file on the worker's machine (its path only). */
  identityFile?: string;
  /** Log in with the worker's ssh-agent (SSH_AUTH_SOCK). */
  agent?: boolean;
  /** The host key's fingerprint, "SHA256:…" as `ssh-keygen -lf` prints it. */
  hostKeySha256?: string;
  /** A known_hosts file on the worker's machine that holds the host's key (plain or hashed names). */
  knownHosts?: string;
  connectTimeoutSeconds?: number;
}

export type HostSpec = { ssh: SshHostSpec } | { worker: string };

/** Where a loaded target lives, whatever its kind (kinds without `host:`, and `local`, live with the worker). */
export function targetHost(target: unknown): HostSpec | undefined {
  const host = (target as { host?: HostSpec }).host;
  return host && typeof host === 'object' && ('ssh' in host || 'worker' in host) ? host : undefined;
}

/** A host worker's name (config `host: { worker: NAME }`, `rollback worker --host NAME`). */
export const HOST_WORKER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** The task queue a host's own worker polls (`rollback worker --host NAME`). */
export const HOST_QUEUE_PREFIX = 'rollback-host-';
export function hostQueue(worker: string): string {
  return `${HOST_QUEUE_PREFIX}${worker}`;
}

/** A host's name for people: `deploy@10.0.0.5:22`, `worker web-1`, or `local`. */
export function hostLabel(on: HostSpec | undefined): string {
  if (!on) return 'local';
  if ('worker' in on) return `worker ${on.worker}`;
  return `${on.ssh.user}@${on.ssh.host}:${on.ssh.port}`;
}

/**
 * The activities that act on the target's host: its working copy, files, processes and logs.
 * A plan places these on the target's host; every other activity (records, notices, checks over
 * the network) runs where the orchestrator's worker runs.
 */
export const HOST_ACTIVITIES: ReadonlySet<string> = new Set([
  'inspectGitDeployment',
  'resolveGitRef',
  'checkRevertCommits',
  'analyzeGitRollback',
  'checkoutRef',
  'backupFiles',
  'restoreConfigFiles',
  'setEnvFlags',
  'runInstall',
  'runBuild',
  'stopService',
  'startService',
  'restartService',
  'markLogOffsets',
  'scanLogs',
  'revertAndPush',
  'inspectNpmPackage',
  'resolveNpmVersion',
  'analyzeNpmPackageRollback',
  'installNpmPackage',
  'inspectBlueGreen',
  'switchColour',
  'stopColour',
  'inspectContainer',
  'prepareImage',
  'analyzeContainerRollback',
  'stopAndRenameContainer',
  'restoreKeptContainer',
  'createStableContainer',
  'removeRollbackContainer',
  'waitContainerHealthy',
  'buildContainerImage',
]);

/**
 * The checks that may run on the host: the MCP stdio check always (it starts the server where it
 * is deployed), health, MCP over HTTP and latency when the config says `from: host`.
 */
const HOST_CHECKS: ReadonlySet<string> = new Set(['checkHealth', 'checkMcp', 'checkLatency']);

/** Whether a call acts on the target's host (its files, processes, logs) rather than over the network. */
export function runsOnHost(call: { activity: string; input: unknown }): boolean {
  if (HOST_ACTIVITIES.has(call.activity)) return true;
  if (!HOST_CHECKS.has(call.activity)) return false;
  const input = call.input as { transport?: unknown; from?: unknown };
  return input.from === 'host' || (call.activity === 'checkMcp' && input.transport === 'stdio');
}

/** What a host's own worker registers: every activity a plan may send to its queue. */
export const HOST_WORKER_ACTIVITIES: ReadonlySet<string> = new Set([
  ...HOST_ACTIVITIES,
  ...HOST_CHECKS,
  'sampleSignals',
]);

/** The host workers a plan's calls (steps and undos) are sent to. */
export function hostWorkersOf(plan: { steps: { on?: HostSpec; undo?: { on?: HostSpec }[] }[] }): string[] {
  const names = new Set<string>();
  for (const step of plan.steps) {
    for (const call of [step, ...(step.undo ?? [])]) {
      if (call.on && 'worker' in call.on) names.add(call.on.worker);
    }
  }
  return [...names];
}
