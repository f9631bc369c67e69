import type { Command } from 'commander';
import { portOption, usage } from '../errors';
import { lazy } from '../lazy';
import { withClient, type CliContext } from '../session';

interface ChatOpsCliOptions {
  socketMode?: boolean;
  port: string;
  listen: string;
  taskQueue?: string;
  signWith?: string;
}

/**
 * `rollback chatops`: the Slack app, a long-running process beside the worker. Its secrets come from
 * the environment only (never a flag, which `ps` shows): SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET.
 */
export function registerChatOps(program: Command, ctx: CliContext): void {
  program
    .command('chatops')
    .description(
      'run the Slack app: /rollback commands, approval and decision buttons (HTTP, signed requests)',
    )
    .option(
      '--socket-mode',
      'connect to Slack over Socket Mode (SLACK_APP_TOKEN) instead of listening for HTTP',
    )
    .option('--port <port>', 'HTTP port Slack posts to (/slack/events)', process.env.PORT ?? '3000')
    .option('--listen <address>', 'address to bind (put a TLS proxy in front for Slack)', '127.0.0.1')
    .option(
      '--task-queue <name>',
      'worker task queue (default: $ROLLBACK_TASK_QUEUE or rollback-orchestrator)',
    )
    .option(
      '--sign-with <key>',
      'SSH key that signs chat approvals (an allowed signer for the mapped approvers); default $ROLLBACK_CHATOPS_KEY',
    )
    .action(async (opts: ChatOpsCliOptions) => {
      const needed = ['SLACK_BOT_TOKEN', opts.socketMode ? 'SLACK_APP_TOKEN' : 'SLACK_SIGNING_SECRET'];
      const missing = needed.filter((v) => !process.env[v]);
      if (missing.length) {
        throw usage(
          `set ${missing.join(' and ')} in the environment (from the Slack app's settings: OAuth → Bot User OAuth Token, ` +
            `${opts.socketMode ? 'Basic Information → App-Level Tokens (connections:write)' : 'Basic Information → Signing Secret'}); they are read from the environment only`,
        );
      }
      const port = portOption(opts.port);
      const global = ctx.globals();
      const { loadConfig } = lazy.config();
      loadConfig(global.config); // a bad config stops here, before anything listens
      const { createChatOps } = lazy.chatops();
      const { connectionSettings, webUiBase } = lazy.connection();
      await withClient(
        ctx,
        async (client) => {
          const chat = createChatOps({
            client,
            configFile: global.config,
            botToken: process.env.SLACK_BOT_TOKEN!,
            ...(opts.socketMode
              ? { appToken: process.env.SLACK_APP_TOKEN! }
              : { signingSecret: process.env.SLACK_SIGNING_SECRET! }),
            apiUrl: process.env.SLACK_API_URL,
            signWith: opts.signWith ?? process.env.ROLLBACK_CHATOPS_KEY,
            webUiBase: webUiBase(connectionSettings(global).address),
            log: (line) => ctx.io.stderr(`chatops: ${line}\n`),
          });
          const { port: bound } = await chat.start(port, opts.listen);
          ctx.io.stderr(
            `chatops listening on http://${opts.listen}:${bound}/slack/events (task queue ${client.taskQueue})\n`,
          );
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          await chat.stop();
        },
        opts.taskQueue,
      );
    });
}
