import { Command } from 'commander';
import { registerActions } from './commands/act';
import { registerChatOps } from './commands/chatops';
import { registerCancel } from './commands/cancel';
import { registerConfig } from './commands/config';
import { registerDoctor } from './commands/doctor';
import { registerDrill } from './commands/drill';
import { registerGuard } from './commands/guard';
import { registerHosts } from './commands/hosts';
import { registerList } from './commands/list';
import { registerLocal } from './commands/local';
import { registerPlan } from './commands/plan';
import { registerReport } from './commands/report';
import { registerServe } from './commands/serve';
import { registerCodecServer } from './commands/codec-server';
import { registerStart } from './commands/start';
import { registerStatus } from './commands/status';
import { registerWatch } from './commands/watch';
import { reportError } from './errors';
import { processIo, type CliIo } from './output';
import type { CliContext, GlobalOpts } from './session';

/*
 * The `rollback` command. Each command lives in commands/ and loads what it needs (the Temporal
 * client, the config schema, the worker SDK) only when it runs, so `rollback --help` stays quick.
 */

export { EXIT, CliExit } from './errors';

/** Marks every required option in --help: commander shows them like the optional ones. */
function markRequired(cmd: Command): void {
  for (const option of cmd.options) {
    if (option.mandatory && !option.description.endsWith('(required)')) option.description += ' (required)';
  }
  cmd.commands.forEach(markRequired);
}

/** `io` receives every command's output (tests capture it in-process). */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('rollback')
    .description('Durable, human-supervised rollbacks of deployed services, on Temporal')
    .option('--config <file>', 'rollback config (default: $ROLLBACK_CONFIG, then ./rollback.yaml)')
    .option(
      '--address <host:port>',
      'Temporal server (default: $TEMPORAL_ADDRESS, the profile, or 127.0.0.1:7233)',
    )
    .option('--namespace <ns>', 'Temporal namespace (default: $TEMPORAL_NAMESPACE, the profile, or default)')
    .option(
      '--profile <name>',
      'profile of the Temporal CLI config file (default: $TEMPORAL_PROFILE or default)',
    )
    .showHelpAfterError()
    // Set before the commands are added: they inherit it, so no parse error exits the process.
    .exitOverride();
  const ctx: CliContext = { io, globals: () => program.opts<GlobalOpts>() };
  for (const register of [
    registerPlan,
    registerStart,
    registerStatus,
    registerActions,
    registerCancel,
    registerWatch,
    registerList,
    registerLocal,
    registerConfig,
    registerHosts,
    registerDoctor,
    registerReport,
    registerDrill,
    registerChatOps,
    registerGuard,
    registerServe,
    registerCodecServer,
  ]) {
    register(program, ctx);
  }
  markRequired(program);
  return program;
}

/** Runs the command line; resolves with the exit code. Every error ends in `reportError`. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const io: CliIo = { ...processIo, setExitCode: (code) => void (exitCode = code) };
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    return reportError(err, argv.includes('--json'), io);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.stdout.write('', () => process.exit(code)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
