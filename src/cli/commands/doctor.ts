import type { Command } from 'commander';
import type { RollbackClient } from '../../client';
import { hostQueue, targetHost } from '../../model/hosts';
import { DEFAULT_TASK_QUEUE } from '../../model/kinds';
import { oneLine } from '../../model/text';
import { EXIT } from '../errors';
import { emit } from '../output';
import { withClient, type CliContext, type GlobalOpts } from '../session';
import { lazy } from '../lazy';

/**
 * `rollback doctor`: checks the Temporal connection every other command uses (the server, the
 * namespace, the search attributes rollbacks are started with, the workers that would run them)
 * and says, for each problem, the command that fixes it.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** A command that fixes it. */
  fix?: string;
}

/** A check as printed: the word that leads its fix in the human output ("add", "start one"). */
interface Finding extends DoctorCheck {
  lead?: string;
}

/** How long any one call to the server may take: doctor answers, it does not hang. */
const CALL_MS = 10_000;
const GRPC_NOT_FOUND = 5;

/** A word of a shell command, quoted when it needs to be. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_.:@/=+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function command(words: string[]): string {
  return words.map(shellWord).join(' ');
}

/**
 * The connection flags given to this command, for the fixes it prints: without them a fix would
 * act on another server than the one checked. The environment and the profile are read alike by
 * `temporal` and `rollback`, so they need no flag.
 */
function connectionFlags(globals: GlobalOpts, withNamespace: boolean): string[] {
  return [
    ...(globals.address !== undefined ? ['--address', globals.address] : []),
    ...(withNamespace && globals.namespace !== undefined ? ['--namespace', globals.namespace] : []),
    ...(globals.profile !== undefined ? ['--profile', globals.profile] : []),
  ];
}

/** KEYWORD_LIST → KeywordList: the Temporal CLI's spelling of a search attribute type. */
function cliTypeName(type: string): string {
  return type
    .split('_')
    .map((w) => w.charAt(0) + w.slice(1).toLowerCase())
    .join('');
}

function failed(err: unknown): string {
  return oneLine(err instanceof Error ? err.message : String(err));
}

/** Runs `fn` with a deadline on every call it makes to the server. */
function bounded<T>(client: RollbackClient, fn: () => Promise<T>): Promise<T> {
  return client.client.withDeadline(Date.now() + CALL_MS, fn);
}

async function checkServer(client: RollbackClient): Promise<Finding> {
  let version = 'version unknown';
  try {
    const info = await bounded(client, () => client.client.workflowService.getClusterInfo({}));
    if (info.serverVersion) version = `Temporal ${info.serverVersion}`;
  } catch {
    try {
      const info = await bounded(client, () => client.client.workflowService.getSystemInfo({}));
      if (info.serverVersion) version = `Temporal ${info.serverVersion}`;
    } catch {
      /* connected, but the server keeps its version to itself */
    }
  }
  return { name: 'reachable', status: 'ok', detail: `${client.address} (${oneLine(version)})` };
}

/** Whether the namespace exists; undefined as the second item when it could not be told. */
async function checkNamespace(
  client: RollbackClient,
  globals: GlobalOpts,
): Promise<[Finding, boolean | undefined]> {
  const namespace = client.namespace;
  try {
    await bounded(client, () => client.client.workflowService.describeNamespace({ namespace }));
    return [{ name: 'namespace', status: 'ok', detail: `${namespace} exists` }, true];
  } catch (err) {
    if ((err as { code?: unknown }).code === GRPC_NOT_FOUND) {
      const fix = command([
        'temporal',
        'operator',
        'namespace',
        'create',
        '--namespace',
        namespace,
        ...connectionFlags(globals, false),
      ]);
      const detail = `"${oneLine(namespace)}" does not exist on ${client.address} (or give another with --namespace / TEMPORAL_NAMESPACE)`;
      return [{ name: 'namespace', status: 'fail', detail, fix, lead: 'create it' }, false];
    }
    return [
      {
        name: 'namespace',
        status: 'warn',
        detail: `cannot describe namespace "${namespace}": ${failed(err)}`,
      },
      undefined,
    ];
  }
}

async function checkSearchAttributes(client: RollbackClient, globals: GlobalOpts): Promise<Finding> {
  const { SEARCH_ATTRIBUTES } = lazy.searchAttributes();
  const { IndexedValueType } = lazy.proto().temporal.api.enums.v1;
  const namespace = client.namespace;
  let registered: Record<string, number>;
  try {
    const answer = await bounded(client, () =>
      client.client.connection.operatorService.listSearchAttributes({ namespace }),
    );
    registered = (answer.customAttributes ?? {}) as Record<string, number>;
  } catch (err) {
    return {
      name: 'search attributes',
      status: 'warn',
      detail: `cannot list the search attributes of namespace ${namespace}: ${failed(err)}`,
    };
  }
  const missing = SEARCH_ATTRIBUTES.filter((k) => registered[k.name] === undefined);
  const wrongType = SEARCH_ATTRIBUTES.filter(
    (k) =>
      registered[k.name] !== undefined &&
      IndexedValueType[registered[k.name]!] !== `INDEXED_VALUE_TYPE_${k.type}`,
  );
  if (!missing.length && !wrongType.length) {
    const names = SEARCH_ATTRIBUTES.map((k) => k.name).join(', ');
    return { name: 'search attributes', status: 'ok', detail: `${names} registered` };
  }
  const problems = [
    ...(missing.length ? [`${missing.map((k) => k.name).join(', ')} missing`] : []),
    ...wrongType.map((k) => {
      const has = String(IndexedValueType[registered[k.name]!] ?? registered[k.name]);
      return `${k.name} is ${cliTypeName(has.replace(/^INDEXED_VALUE_TYPE_/, ''))}, not ${cliTypeName(k.type)}`;
    }),
  ];
  const operator = (verb: string, name: string, ...rest: string[]) =>
    command([
      'temporal',
      'operator',
      'search-attribute',
      verb,
      '--namespace',
      namespace,
      '--name',
      name,
      ...rest,
      ...connectionFlags(globals, false),
    ]);
  // One command per attribute: the Temporal CLI's --type takes one value, and it drops the names
  // past the number of types given.
  const fix = [
    ...wrongType.map((k) => operator('remove', k.name, '--yes')),
    ...[...wrongType, ...missing].map((k) => operator('create', k.name, '--type', cliTypeName(k.type))),
  ].join(' && ');
  return {
    name: 'search attributes',
    status: 'fail',
    detail: `${problems.join('; ')} in namespace ${namespace} (rollbacks are started with them)`,
    fix,
    lead: wrongType.length ? 'fix' : 'add',
  };
}

async function checkMainWorker(client: RollbackClient, globals: GlobalOpts): Promise<Finding> {
  const queue = client.taskQueue;
  const fix = command(['rollback', 'worker', '--task-queue', queue, ...connectionFlags(globals, true)]);
  try {
    const { polling, lastPollSecondsAgo } = await bounded(client, () => client.workerPresence());
    if (polling)
      return {
        name: 'worker',
        status: 'ok',
        detail: `a worker polls task queue "${queue}" (last poll ${lastPollSecondsAgo ?? 0} s ago)`,
      };
    const last = lastPollSecondsAgo === undefined ? '' : ` (the last poll was ${lastPollSecondsAgo} s ago)`;
    return {
      name: 'worker',
      status: 'fail',
      detail: `no worker polls task queue "${oneLine(queue)}" in namespace ${client.namespace}${last}: no rollback would run (or is --task-queue / ROLLBACK_TASK_QUEUE mistyped?)`,
      fix,
      lead: 'start one',
    };
  } catch (err) {
    return {
      name: 'worker',
      status: 'warn',
      detail: `cannot ask about task queue "${queue}": ${failed(err)}`,
    };
  }
}

/** The config's host workers (`host: { worker: NAME }`) and the targets on each. */
type HostWorkers = Map<string, string[]>;

/** The host workers of the config, or a check that says why there are none to ask about. */
function configHostWorkers(globals: GlobalOpts): HostWorkers | Finding {
  const { findConfigFile, loadConfig } = lazy.config();
  try {
    findConfigFile(globals.config);
  } catch (err) {
    // No config is fine for doctor (a worker-only machine has none); a config named but absent is not.
    const named = globals.config !== undefined || process.env.ROLLBACK_CONFIG !== undefined;
    return {
      name: 'host workers',
      status: named ? 'warn' : 'ok',
      detail: `not checked: ${failed(err)}`,
    };
  }
  try {
    const loaded = loadConfig(globals.config);
    const workers: HostWorkers = new Map();
    for (const [name, target] of Object.entries(loaded.config.targets)) {
      const on = targetHost(target);
      if (on && 'worker' in on) workers.set(on.worker, [...(workers.get(on.worker) ?? []), name]);
    }
    if (!workers.size)
      return {
        name: 'host workers',
        status: 'ok',
        detail: `${loaded.file} names no host worker (no target has host: { worker: NAME })`,
      };
    return workers;
  } catch (err) {
    return { name: 'host workers', status: 'warn', detail: `not checked: ${failed(err)}` };
  }
}

async function checkHostWorker(
  client: RollbackClient,
  globals: GlobalOpts,
  worker: string,
  targets: string[],
): Promise<Finding> {
  const queue = hostQueue(worker);
  const name = `host worker ${worker}`;
  const of = `target${targets.length > 1 ? 's' : ''} ${targets.map(oneLine).join(', ')}`;
  try {
    const { polling } = await bounded(client, () => client.workerPresence(queue, 'activity'));
    if (polling) return { name, status: 'ok', detail: `a worker polls "${queue}" (${of})` };
    return {
      name,
      status: 'warn',
      detail: `no worker polls "${oneLine(queue)}": the host steps of ${of} would wait for one`,
      fix: command(['rollback', 'worker', '--host', worker, ...connectionFlags(globals, true)]),
      lead: 'start one there',
    };
  } catch (err) {
    return { name, status: 'warn', detail: `cannot ask about task queue "${queue}": ${failed(err)}` };
  }
}

/** Every check, in order; the ones that need what an earlier one found missing are left out. */
async function runDoctor(ctx: CliContext, taskQueue?: string): Promise<Finding[]> {
  const globals = ctx.globals();
  const checks: Finding[] = [];
  let connected = false;
  try {
    await withClient(
      ctx,
      async (client) => {
        connected = true;
        checks.push(await checkServer(client));
        const [namespace, exists] = await checkNamespace(client, globals);
        checks.push(namespace);
        if (exists === false) return; // nothing else can be asked of a namespace that is not there
        checks.push(await checkSearchAttributes(client, globals));
        checks.push(await checkMainWorker(client, globals));
        const hosts = configHostWorkers(globals);
        if (!(hosts instanceof Map)) checks.push(hosts);
        else
          for (const [worker, targets] of hosts)
            checks.push(await checkHostWorker(client, globals, worker, targets));
      },
      taskQueue,
    );
  } catch (err) {
    if (connected) throw err;
    // The connection settings or the server: the message names the address and what to do.
    checks.push({ name: 'reachable', status: 'fail', detail: failed(err) });
  }
  return checks;
}

const LABEL: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** One line per check: `ok   reachable: ...`, `FAIL search attributes: ...; fix: temporal ...`. */
function formatChecks(checks: Finding[]): string {
  const lines = checks.map(
    (c) => `${LABEL[c.status]} ${c.name}: ${c.detail}${c.fix ? `; ${c.lead ?? 'fix'}: ${c.fix}` : ''}`,
  );
  const failures = checks.filter((c) => c.status === 'fail').length;
  const warnings = checks.filter((c) => c.status === 'warn').length;
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const skipped = checks.length === 1 && failures ? ' (nothing else can be checked without a server)' : '';
  lines.push(
    failures || warnings
      ? `${count(failures, 'failure')}, ${count(warnings, 'warning')}${skipped}`
      : 'all checks passed',
  );
  return lines.join('\n');
}

/** `rollback doctor`: is the Temporal side ready to run rollbacks, and what to fix if not. */
export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description(
      'check the Temporal server, namespace, search attributes and workers the CLI would use, and say what to fix',
    )
    .option(
      '--task-queue <name>',
      `the worker task queue to check (default: $ROLLBACK_TASK_QUEUE or ${DEFAULT_TASK_QUEUE})`,
    )
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nWith a config (--config, $ROLLBACK_CONFIG or ./rollback.yaml) it also asks whether a worker polls\n' +
        'the queue of every host worker its targets name (host: { worker: NAME }).\n' +
        'Exit status: 0 when no check failed (warnings included), 1 when one failed.',
    )
    .action(async (opts: { taskQueue?: string; json?: boolean }) => {
      const checks = await runDoctor(ctx, opts.taskQueue);
      const ok = !checks.some((c) => c.status === 'fail');
      const data = checks.map(({ lead: _lead, ...check }): DoctorCheck => check);
      emit(ctx.io, opts.json, formatChecks(checks), { ok, checks: data });
      if (!ok) ctx.io.setExitCode(EXIT.failed);
    });
}
