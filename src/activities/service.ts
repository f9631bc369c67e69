import { isAbsolute, join } from 'node:path';
import type { ServiceConfig } from '../targets/kinds/git';
import type { HostSpec } from '../model';
import { tail, type Host } from '../runner/types';
import { probeHealth, type HealthTarget } from './health-probe';
import { localPm2Home, pm2Call, pm2ListOverRpc } from './pm2-rpc';
import { done, heartbeat, retryable, type StepResult } from './common';
import type { ActivityDeps } from './deps';

type Pm2Service = Extract<ServiceConfig, { manager: 'pm2' }>;

export interface ServiceInput {
  service: ServiceConfig;
  /** The deploy path: pm2's working directory and the base of a relative script. */
  cwd: string;
  /**
   * The health check that runs beside the start (the workflow adds it): the start's watch ends as
   * soon as the service answers it healthy with no restart, instead of at the end of the grace
   * period, unless the service says `startGraceEndsWhenHealthy: false`.
   */
  endWatchWhenHealthy?: HealthTarget;
}

export interface Pm2Proc {
  name: string;
  pid: number;
  pm_id?: number;
  pm2_env?: {
    status?: string;
    restart_time?: number;
    pm_exec_path?: string;
    pm_cwd?: string;
    args?: string[];
    pm_uptime?: number;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How pm2 runs: `service.pm2Command` when the config gives one; else on the worker's own machine
 * pm2 from our own dependencies (no global install needed), and on another host its `pm2`.
 */
export function pm2Argv(service: { pm2Command?: string[] }, host: Host, args: string[]): string[] {
  if (service.pm2Command) return [...service.pm2Command, ...args];
  return host.local ? [process.execPath, require.resolve('pm2/bin/pm2'), ...args] : ['pm2', ...args];
}

function pm2Env(service: Pm2Service): Record<string, string> {
  return service.pm2Home ? { PM2_HOME: service.pm2Home } : {};
}

/**
 * The service gets its configured env, not the worker's (which may hold the worker's own
 * credentials). On another host, that host's own HOME, PATH and USER are kept by the SSH runner.
 */
function serviceEnv(service: Pm2Service, host: Host): Record<string, string> {
  return {
    ...(host.local ? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' } : {}),
    ...pm2Env(service),
    ...service.env,
  };
}

async function pm2(service: Pm2Service, args: string[], host: Host) {
  return host.runner.run(pm2Argv(service, host, args), { env: pm2Env(service), timeoutMs: 60_000 });
}

/** The processes `pm2 jlist` printed; pm2 may print daemon start-up lines ("[PM2] Spawning…", a banner) first. */
export function parsePm2List(stdout: string): Pm2Proc[] {
  const at = stdout.search(/^\[(?:\]|\{)/m);
  return JSON.parse(at >= 0 ? stdout.slice(at) : '[]') as Pm2Proc[];
}

/** On the worker's own machine, with our own pm2, the daemon is asked over its socket (ms, not a Node start). */
const overSocket = (service: Pm2Service, host: Host) => host.local && !service.pm2Command;

/** The pm2 processes of the service's name (one, unless someone registered more under it). */
async function pm2Procs(service: Pm2Service, host: Host): Promise<Pm2Proc[]> {
  if (overSocket(service, host)) {
    const list = (await pm2ListOverRpc(localPm2Home(service.pm2Home))) as Pm2Proc[] | undefined;
    if (list) return list.filter((p) => p.name === service.name);
  }
  const r = await pm2(service, ['jlist'], host);
  if (r.exitCode !== 0) throw new Error(`pm2 jlist failed: ${tail(r.stderr, 5)}`);
  return parsePm2List(r.stdout).filter((p) => p.name === service.name);
}

async function pm2Find(service: Pm2Service, host: Host): Promise<Pm2Proc | undefined> {
  return (await pm2Procs(service, host))[0];
}

/**
 * How long the daemon may take to answer a stop or a restart: it waits its kill_timeout (1.6 s by
 * default) before it kills a process that ignores SIGINT.
 */
const DAEMON_ANSWER_MS = 60_000;

/**
 * `pm2 restart NAME --update-env` asked of the daemon over its socket: the process gets the
 * service's env merged into what it had, as with the CLI. `procs`: the service's processes, as just
 * read. Resolves to its restart count just after (what the start's watch counts crash restarts
 * from); `undefined` when not asked (another host, a pm2Command, more than one process of the
 * name) or not answered: the CLI then.
 */
async function restartOverSocket(
  service: Pm2Service,
  host: Host,
  procs: Pm2Proc[],
): Promise<number | undefined> {
  if (!overSocket(service, host)) return undefined;
  if (procs.length !== 1 || procs[0]!.pm_id === undefined) return undefined;
  const answer = await pm2Call(
    localPm2Home(service.pm2Home),
    'restartProcessId',
    { id: procs[0]!.pm_id, env: serviceEnv(service, host) },
    DAEMON_ANSWER_MS,
  );
  if (!answer) return undefined;
  if (answer.err)
    throw retryable(`pm2 restart ${service.name} failed: ${answer.err.message}`, 'ServiceStartFailed');
  return (answer.result as Pm2Proc | undefined)?.pm2_env?.restart_time ?? 0;
}

/**
 * Stops the service's processes by asking the daemon over its socket, as `pm2 stop NAME` does
 * after its own Node start-up; `undefined` when no daemon answers (the CLI then, which starts one).
 */
async function stopOverSocket(service: Pm2Service, host: Host): Promise<StepResult | undefined> {
  if (!overSocket(service, host)) return undefined;
  const home = localPm2Home(service.pm2Home);
  const list = (await pm2ListOverRpc(home)) as Pm2Proc[] | undefined;
  if (!list) return undefined;
  const procs = list.filter((p) => p.name === service.name);
  if (procs.length === 0)
    return done(`pm2 process ${service.name} is not registered: nothing to stop`, { before: 'absent' });
  for (const p of procs) {
    const answer = await pm2Call(home, 'stopProcessId', p.pm_id, DAEMON_ANSWER_MS);
    // Unanswered in time: the CLI stops it (stopping a stopped process succeeds).
    if (!answer) return undefined;
    if (answer.err)
      throw retryable(`pm2 stop ${service.name} failed: ${answer.err.message}`, 'ServiceStopFailed');
  }
  // The daemon's own word on each (one it could not kill within its timeout shows as errored).
  const after = (await pm2ListOverRpc(home)) as Pm2Proc[] | undefined;
  if (!after) return undefined;
  const running = after.filter((p) => p.name === service.name && p.pm2_env?.status !== 'stopped');
  if (running.length > 0)
    throw retryable(
      `pm2 could not stop ${service.name} (status ${running.map((p) => p.pm2_env?.status ?? 'unknown').join(', ')}); see: pm2 logs ${service.name}`,
      'ServiceStopFailed',
    );
  return done(`pm2 process ${service.name} stopped`, { before: 'known' });
}

async function stopPm2(service: Pm2Service, host: Host): Promise<StepResult> {
  const asked = await stopOverSocket(service, host);
  if (asked) return asked;
  // `pm2 stop` is its own check: it succeeds on a stopped process and names an unknown one, so
  // one call (each pm2 call is a Node start-up) covers every state.
  const r = await pm2(service, ['stop', service.name], host);
  if (r.exitCode === 0) return done(`pm2 process ${service.name} stopped`, { before: 'known' });
  if (/not found/i.test(r.stderr + r.stdout)) {
    return done(`pm2 process ${service.name} is not registered: nothing to stop`, { before: 'absent' });
  }
  throw retryable(`pm2 stop ${service.name} failed: ${tail(r.stderr || r.stdout, 5)}`, 'ServiceStopFailed');
}

/**
 * A process that dies at start shows as online for a moment. Like pm2's own min_uptime, a start
 * counts once the current instance has stayed up for the grace period with no restart, or, with a
 * health check beside the start (`healthy`), once it answered that check with no restart.
 * Resolves to how the watch ended.
 */
async function waitUntilStable(
  service: Pm2Service,
  baseRestarts: number,
  host: Host,
  healthy?: HealthTarget,
): Promise<string> {
  const graceMs = service.startGraceSeconds * 1000;
  const deadline = Date.now() + graceMs + 30_000;
  const every = overSocket(service, host) ? 50 : 200; // a look over the socket is a few ms
  for (;;) {
    const p = await pm2Find(service, host);
    heartbeat();
    const status = p?.pm2_env?.status ?? 'absent';
    const restarts = Math.max(0, (p?.pm2_env?.restart_time ?? 0) - baseRestarts);
    if (status !== 'online' || restarts > 0) {
      throw retryable(
        `pm2 process ${service.name} did not stay up (status ${status}, ${restarts} crash restarts); see: pm2 logs ${service.name}`,
        'ServiceStartFailed',
      );
    }
    const upMs = Date.now() - (p?.pm2_env?.pm_uptime ?? Date.now());
    if (upMs >= graceMs) return `up ${service.startGraceSeconds} s with no restart`;
    if (healthy && (await answersHealthy(healthy, host)))
      return `answered its health check after ${upMs} ms of uptime with no restart`;
    if (Date.now() > deadline)
      throw retryable(
        `pm2 process ${service.name} never reached ${graceMs} ms of uptime`,
        'ServiceStartFailed',
      );
    await sleep(Math.min(every, graceMs - upMs));
  }
}

/** One look at the health check beside the start, for the start's watch (never fails the start). */
async function answersHealthy(target: HealthTarget, host: Host): Promise<boolean> {
  return (await probeHealth(target, host, AbortSignal.timeout(1000))).healthy;
}

/** The health check the start's watch may end on: none when the service asks for the whole grace. */
function watchEndsOn(input: ServiceInput): HealthTarget | undefined {
  return input.service.startGraceEndsWhenHealthy === false ? undefined : input.endWatchWhenHealthy;
}

async function startPm2(
  service: Pm2Service,
  cwd: string,
  host: Host,
  healthy?: HealthTarget,
): Promise<StepResult> {
  const procs = await pm2Procs(service, host);
  const proc = procs[0];
  const before = proc?.pm2_env?.status ?? 'absent';
  if (before === 'online') {
    // pm2 restarts a crashing process forever, so "online" alone proves nothing: it must stay up.
    const held = await waitUntilStable(service, proc?.pm2_env?.restart_time ?? 0, host, healthy);
    return done(`pm2 process ${service.name} already online (${held})`, { before });
  }
  const script = isAbsolute(service.script) ? service.script : join(cwd, service.script);
  // pm2 keeps each process's script, cwd and arguments: reuse the registration when the config
  // still matches it (one quick restart), else register afresh from the config.
  const registered =
    proc?.pm2_env?.pm_exec_path === script &&
    proc.pm2_env.pm_cwd === cwd &&
    JSON.stringify(proc.pm2_env.args ?? []) === JSON.stringify(service.args);
  if (proc && !registered) await pm2(service, ['delete', service.name], host);
  const base = registered ? await restartOverSocket(service, host, procs) : undefined;
  if (base !== undefined) {
    const held = await waitUntilStable(service, base, host, healthy);
    return done(`started pm2 process ${service.name} from ${script} (${held})`, { before });
  }
  const args = registered
    ? ['restart', service.name, '--update-env']
    : [
        'start',
        script,
        '--name',
        service.name,
        '--cwd',
        cwd,
        '--time',
        ...(service.args.length ? ['--', ...service.args] : []),
      ];
  const r = await host.runner.run(pm2Argv(service, host, args), {
    env: serviceEnv(service, host),
    replaceEnv: true,
    timeoutMs: 60_000,
  });
  if (r.exitCode !== 0)
    throw retryable(
      `pm2 ${args[0]} ${service.name} failed: ${tail(r.stderr || r.stdout, 5)}`,
      'ServiceStartFailed',
    );
  const held = await waitUntilStable(
    service,
    registered ? (proc?.pm2_env?.restart_time ?? 0) + 1 : 0, // `restart` counts one
    host,
    healthy,
  );
  return done(`started pm2 process ${service.name} from ${script} (${held})`, { before });
}

type CommandService = Extract<ServiceConfig, { manager: 'command' }>;

async function commandStatus(service: CommandService, cwd: string, host: Host) {
  const r = await host.runner.run(service.status, { cwd: service.cwd ?? cwd, timeoutMs: 30_000 });
  return r.exitCode === 0;
}

async function runCommand(argv: string[], cwd: string, host: Host, what: 'start' | 'stop') {
  const r = await host.runner.run(argv, { cwd, timeoutMs: 120_000 });
  if (r.exitCode !== 0)
    throw retryable(
      `${what} command ${argv.join(' ')} exited ${r.exitCode}: ${tail(r.stderr || r.stdout, 5)}`,
      what === 'start' ? 'ServiceStartFailed' : 'ServiceStopFailed',
    );
}

/** Stops the service. Stopping a stopped (or unknown) service succeeds. */
async function stopService(input: ServiceInput, host: Host): Promise<StepResult> {
  const { service, cwd } = input;
  if (service.manager === 'pm2') return stopPm2(service, host);
  if (!(await commandStatus(service, cwd, host)))
    return done('service already stopped', { before: 'stopped' });
  await runCommand(service.stop, service.cwd ?? cwd, host, 'stop');
  if (await commandStatus(service, cwd, host))
    throw retryable('service still running after its stop command', 'ServiceStopFailed');
  return done('stopped the service', { before: 'running' });
}

/** Starts the service. Starting a running service succeeds without restarting it. */
async function startService(input: ServiceInput, host: Host): Promise<StepResult> {
  const { service, cwd } = input;
  const healthy = watchEndsOn(input);
  if (service.manager === 'pm2') return startPm2(service, cwd, host, healthy);
  if (await commandStatus(service, cwd, host)) {
    const held = await holdsRunning(service, cwd, host, healthy);
    return done(`service already running (${held})`, { before: 'running' });
  }
  await runCommand(service.start, service.cwd ?? cwd, host, 'start');
  for (let i = 0; ; i++) {
    if (await commandStatus(service, cwd, host)) break;
    if (i >= 20)
      throw retryable(
        'service status command does not report it running 5 s after its start command',
        'ServiceStartFailed',
      );
    await sleep(250);
  }
  const held = await holdsRunning(service, cwd, host, healthy);
  return done(`started the service (${held})`, { before: 'stopped' });
}

/**
 * A release that dies at once is running for a moment. Like pm2's min_uptime, a start counts
 * only once `status` has kept reporting it running for the grace period, or, with a health check
 * beside the start, once it answered that check. Resolves to how the watch ended.
 */
async function holdsRunning(
  service: CommandService,
  cwd: string,
  host: Host,
  healthy?: HealthTarget,
): Promise<string> {
  const started = Date.now();
  const until = started + service.startGraceSeconds * 1000;
  while (Date.now() < until) {
    await sleep(Math.min(200, Math.max(0, until - Date.now())));
    if (!(await commandStatus(service, cwd, host))) {
      throw retryable(
        `the service stopped again within ${service.startGraceSeconds} s of its start (status command ${service.status.join(' ')} exits non-zero); see its logs`,
        'ServiceStartFailed',
      );
    }
    if (healthy && Date.now() < until && (await answersHealthy(healthy, host)))
      return `running, and answered its health check after ${Date.now() - started} ms`;
  }
  return `running for ${service.startGraceSeconds} s`;
}

/** Restarts the service so it re-reads its configuration (a partial rollback's flags). */
async function restartService(input: ServiceInput, host: Host): Promise<StepResult> {
  const { service, cwd } = input;
  if (service.manager === 'pm2') {
    const procs = await pm2Procs(service, host);
    const proc = procs[0];
    if (!proc) return startPm2(service, cwd, host);
    const base = await restartOverSocket(service, host, procs);
    if (base !== undefined) {
      await waitUntilStable(service, base, host);
      return done(`restarted pm2 process ${service.name}`, { before: proc.pm2_env?.status ?? 'unknown' });
    }
    const r = await host.runner.run(pm2Argv(service, host, ['restart', service.name, '--update-env']), {
      env: serviceEnv(service, host),
      replaceEnv: true,
      timeoutMs: 60_000,
    });
    if (r.exitCode !== 0)
      throw retryable(
        `pm2 restart ${service.name} failed: ${tail(r.stderr || r.stdout, 5)}`,
        'ServiceStartFailed',
      );
    await waitUntilStable(service, (proc.pm2_env?.restart_time ?? 0) + 1, host);
    return done(`restarted pm2 process ${service.name}`, { before: proc.pm2_env?.status ?? 'unknown' });
  }
  await stopService(input, host);
  await startService(input, host);
  return done('restarted the service (stop, then start)', { before: 'unknown' });
}

/** Stop, start and restart the target's service through its manager (pm2 or commands). */
export function serviceActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    stopService: (input: ServiceInput, on?: HostSpec) => deps.onHost(on, (host) => stopService(input, host)),
    startService: (input: ServiceInput, on?: HostSpec) =>
      deps.onHost(on, (host) => startService(input, host)),
    restartService: (input: ServiceInput, on?: HostSpec) =>
      deps.onHost(on, (host) => restartService(input, host)),
  };
}
