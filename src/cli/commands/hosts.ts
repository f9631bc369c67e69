import type { Command } from 'commander';
import { hostLabel, targetHost } from '../../model/hosts';
import { oneLine } from '../../model/text';
import type { LoadedConfig } from '../../targets/load';
import type { HostCheck } from '../../targets/host-check';
import { emit } from '../output';
import { withClient, type CliContext } from '../session';
import { lastHostChecks, noteUnrecorded, recordHostChecks } from '../state/host-checks';
import { lazy } from '../lazy';

/**
 * Every host of a config's targets asked now, and recorded as its last check: SSH hosts by logging
 * in (read-only, one connection per target), host workers by asking Temporal whether a worker polls
 * their task queue. Shared by `rollback config check` and `rollback hosts --check`.
 */
export async function checkConfigHosts(ctx: CliContext, loaded: LoadedConfig): Promise<HostCheck[]> {
  const { checkTargetHost, checkTargetWorker, hostWorkerOf } = lazy.hostCheck();
  const targets = Object.entries(loaded.config.targets);
  const ssh = (await Promise.all(targets.map(([name, t]) => checkTargetHost(name, t)))).filter(
    (c) => c !== undefined,
  );
  const workers = targets.flatMap(([name, t]) => {
    const worker = hostWorkerOf(t);
    return worker ? [{ name, worker }] : [];
  });
  let asked: HostCheck[] = [];
  if (workers.length) {
    type Presence = Parameters<typeof checkTargetWorker>[2];
    const ask = (presence: Presence) =>
      Promise.all(workers.map(({ name, worker }) => checkTargetWorker(name, worker, presence)));
    try {
      asked = await withClient(ctx, (client) => ask((queue) => client.workerPresence(queue, 'activity')));
    } catch (err) {
      asked = await ask(() => Promise.reject(err as Error)); // no server: each worker host says so
    }
  }
  const checks = [...ssh, ...asked];
  noteUnrecorded(ctx.io, recordHostChecks(loaded.file, checks));
  return checks;
}

interface HostRow {
  host: string;
  via: 'local' | 'ssh' | 'worker';
  targets: string[];
  /** The latest check of each of its targets; absent for targets never checked. */
  checks: HostCheck[];
  /** ready: every target's last check passed; problem: one did not; unchecked: never checked. */
  state: 'ready' | 'problem' | 'unchecked' | 'local';
  lastCheckedAt?: string;
}

function rows(loaded: LoadedConfig, last: Record<string, HostCheck>): HostRow[] {
  const byHost = new Map<string, HostRow>();
  for (const [name, target] of Object.entries(loaded.config.targets)) {
    const on = targetHost(target);
    const host = hostLabel(on);
    const row = byHost.get(host) ?? {
      host,
      via: on ? ('ssh' in on ? 'ssh' : 'worker') : 'local',
      targets: [],
      checks: [],
      state: on ? 'unchecked' : 'local',
    };
    row.targets.push(name);
    const check = last[name];
    if (on && check && check.host === host) row.checks.push(check);
    byHost.set(host, row);
  }
  for (const row of byHost.values()) {
    if (row.via === 'local') continue;
    if (row.checks.some((c) => c.problems.length)) row.state = 'problem';
    else if (row.checks.length === row.targets.length) row.state = 'ready';
    row.lastCheckedAt = row.checks
      .map((c) => c.at)
      .sort()
      .at(-1);
  }
  return [...byHost.values()];
}

function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} days ago`;
}

function formatRows(list: HostRow[]): string {
  const width = Math.max(4, ...list.map((r) => r.host.length));
  const lines = [`${'HOST'.padEnd(width)}  VIA     STATE      LAST CHECK       TARGETS`];
  for (const r of list) {
    const when = r.lastCheckedAt ? ago(r.lastCheckedAt) : '-';
    lines.push(
      `${oneLine(r.host).padEnd(width)}  ${r.via.padEnd(6)}  ${r.state.padEnd(9)}  ${when.padEnd(15)}  ${r.targets.join(', ')}`,
    );
    for (const c of r.checks) for (const p of c.problems) lines.push(`  ✘ ${oneLine(p)}`);
    const unchecked = r.via === 'local' ? [] : r.targets.filter((t) => !r.checks.some((c) => c.target === t));
    if (unchecked.length && r.state !== 'unchecked') lines.push(`  never checked: ${unchecked.join(', ')}`);
  }
  return lines.join('\n');
}

/** `rollback hosts [--check]`: the hosts of the config's targets and how their last check went. */
export function registerHosts(program: Command, ctx: CliContext): void {
  program
    .command('hosts')
    .description("list the targets' hosts and their last check (--check: ask them now)")
    .option('--check', 'log in to every SSH host and ask Temporal about every host worker now, and record it')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nA check is recorded by "rollback hosts --check", "rollback config check" and "rollback start", in\n' +
        '$ROLLBACK_STATE_DIR (default $XDG_STATE_HOME/rollback or ~/.local/state/rollback).\n' +
        'Exit status: 0, or 2 with --check when a host has a problem.',
    )
    .action(async (opts: { check?: boolean; json?: boolean }) => {
      const loaded = lazy.config().loadConfig(ctx.globals().config);
      if (opts.check) await checkConfigHosts(ctx, loaded);
      const list = rows(loaded, lastHostChecks(loaded.file));
      emit(ctx.io, opts.json, formatRows(list), { file: loaded.file, hosts: list });
      const problems = list.flatMap((r) => r.checks.flatMap((c) => c.problems));
      if (opts.check && problems.length) {
        // The answer is the table (or JSON) above; the exit status says a host is not ready.
        if (!opts.json)
          ctx.io.stderr(`${loaded.file}: ${problems.length} host problem${problems.length > 1 ? 's' : ''}\n`);
        ctx.io.setExitCode(2);
      }
    });
}
