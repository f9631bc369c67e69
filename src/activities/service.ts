import { isAbsolute, join } from 'node:path';
import type { ServiceConfig } from '../targets/schema';
import { localRunner } from '../runner/local';
import { tail, type Runner } from '../runner/types';
import { done, heartbeat, type StepResult } from './common';

type Pm2Service = Extract<ServiceConfig, { manager: 'pm2' }>;

export interface ServiceInput {
  service: ServiceConfig;
  /** The deploy path: pm2's working directory and the base of a relative script. */
  cwd: string;
}

interface Pm2Proc {
  name: string;
  pid: number;
  pm2_env?: { status?: string; restart_time?: number; pm_exec_path?: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** pm2 from our own dependencies, so the host needs no global install. */
function pm2Argv(args: string[]): string[] {
  return [process.execPath, require.resolve('pm2/bin/pm2'), ...args];
}

function pm2Env(service: Pm2Service): Record<string, string> {
  return service.pm2Home ? { PM2_HOME: service.pm2Home } : {};
}

async function pm2(service: Pm2Service, args: string[], runner: Runner) {
  return runner.run(pm2Argv(args), { env: pm2Env(service), timeoutMs: 60_000 });
}

async function pm2Find(service: Pm2Service, runner: Runner): Promise<Pm2Proc | undefined> {
  const r = await pm2(service, ['jlist'], runner);
  if (r.exitCode !== 0) throw new Error(`pm2 jlist failed: ${tail(r.stderr, 5)}`);
  // pm2 may print daemon start-up lines before the JSON.
  const json = r.stdout.slice(r.stdout.indexOf('['));
  const list = JSON.parse(json || '[]') as Pm2Proc[];
  return list.find((p) => p.name === service.name);
}

async function pm2Status(service: Pm2Service, runner: Runner): Promise<string> {
  return (await pm2Find(service, runner))?.pm2_env?.status ?? 'absent';
}

async function stopPm2(service: Pm2Service, runner: Runner): Promise<StepResult> {
  const before = await pm2Status(service, runner);
  if (before === 'absent' || before === 'stopped')
    return done(`pm2 process ${service.name} already ${before}`, { before });
  const r = await pm2(service, ['stop', service.name], runner);
  if (r.exitCode !== 0) throw new Error(`pm2 stop ${service.name} failed: ${tail(r.stderr || r.stdout, 5)}`);
  const after = await pm2Status(service, runner);
  if (after !== 'stopped') throw new Error(`pm2 process ${service.name} is ${after} after pm2 stop`);
  return done(`stopped pm2 process ${service.name} (was ${before})`, { before });
}

async function startPm2(service: Pm2Service, cwd: string, runner: Runner): Promise<StepResult> {
  const before = await pm2Status(service, runner);
  if (before === 'online') return done(`pm2 process ${service.name} already online`, { before });
  // Re-register from the config: a rollback may change the entry file or its arguments.
  if (before !== 'absent') await pm2(service, ['delete', service.name], runner);
  const script = isAbsolute(service.script) ? service.script : join(cwd, service.script);
  const args = ['start', script, '--name', service.name, '--cwd', cwd, '--time'];
  if (service.args.length > 0) args.push('--', ...service.args);
  const r = await runner.run(pm2Argv(args), {
    env: { ...pm2Env(service), ...service.env },
    timeoutMs: 60_000,
  });
  if (r.exitCode !== 0) throw new Error(`pm2 start ${service.name} failed: ${tail(r.stderr || r.stdout, 5)}`);
  // A process that dies at start shows as online for a moment: watch it briefly.
  for (let i = 0; i < 6; i++) {
    await sleep(250);
    heartbeat();
    const p = await pm2Find(service, runner);
    const status = p?.pm2_env?.status ?? 'absent';
    if (status === 'errored' || status === 'stopped' || (p?.pm2_env?.restart_time ?? 0) > 0) {
      throw new Error(
        `pm2 process ${service.name} did not stay up (status ${status}, restarts ${p?.pm2_env?.restart_time ?? 0}); see pm2 logs ${service.name}`,
      );
    }
  }
  return done(`started pm2 process ${service.name} from ${script}`, { before });
}

async function commandStatus(
  service: Extract<ServiceConfig, { manager: 'command' }>,
  cwd: string,
  runner: Runner,
) {
  const r = await runner.run(service.status, { cwd: service.cwd ?? cwd, timeoutMs: 30_000 });
  return r.exitCode === 0;
}

async function runCommand(argv: string[], cwd: string, runner: Runner, what: string) {
  const r = await runner.run(argv, { cwd, timeoutMs: 120_000 });
  if (r.exitCode !== 0)
    throw new Error(
      `${what} command ${argv.join(' ')} exited ${r.exitCode}: ${tail(r.stderr || r.stdout, 5)}`,
    );
}

/** Stops the service. Stopping a stopped (or unknown) service succeeds. */
export async function stopService(input: ServiceInput, runner: Runner = localRunner): Promise<StepResult> {
  const { service, cwd } = input;
  if (service.manager === 'pm2') return stopPm2(service, runner);
  if (!(await commandStatus(service, cwd, runner)))
    return done('service already stopped', { before: 'stopped' });
  await runCommand(service.stop, service.cwd ?? cwd, runner, 'stop');
  if (await commandStatus(service, cwd, runner))
    throw new Error('service still running after its stop command');
  return done('stopped the service', { before: 'running' });
}

/** Starts the service. Starting a running service succeeds without restarting it. */
export async function startService(input: ServiceInput, runner: Runner = localRunner): Promise<StepResult> {
  const { service, cwd } = input;
  if (service.manager === 'pm2') return startPm2(service, cwd, runner);
  if (await commandStatus(service, cwd, runner))
    return done('service already running', { before: 'running' });
  await runCommand(service.start, service.cwd ?? cwd, runner, 'start');
  for (let i = 0; i < 20; i++) {
    if (await commandStatus(service, cwd, runner)) return done('started the service', { before: 'stopped' });
    await sleep(250);
  }
  throw new Error('service status command does not report it running 5 s after its start command');
}
