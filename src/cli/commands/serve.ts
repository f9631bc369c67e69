import type { Command } from 'commander';
import { ConfigError } from '../../targets/errors';
import { portOption, usage } from '../errors';
import { lazy } from '../lazy';
import { withClient, type CliContext } from '../session';

interface ServeOptions {
  port: string;
  listen: string;
  taskQueue?: string;
}

/**
 * `rollback serve`: alerts in. Alertmanager webhooks and SNS notifications of CloudWatch alarms,
 * mapped by the config's `alerts:` to targets, start rollbacks. Secrets come from the environment
 * variables the config names; a named one that is unset stops it before it listens.
 */
export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description(
      'take alerts (Alertmanager webhooks, SNS CloudWatch alarms) and start the rollbacks the config maps them to',
    )
    .option('--port <port>', 'HTTP port (POST /alerts/alertmanager, /alerts/sns)', '9095')
    .option('--listen <address>', 'address to bind (put a TLS proxy in front for SNS)', '127.0.0.1')
    .option(
      '--task-queue <name>',
      'worker task queue (default: $ROLLBACK_TASK_QUEUE or rollback-orchestrator)',
    )
    .action(async (opts: ServeOptions) => {
      const port = portOption(opts.port);
      const global = ctx.globals();
      const loaded = lazy.config().loadConfig(global.config);
      if (!loaded.config.alerts) {
        throw new ConfigError(
          `${loaded.file} has no alerts: section; add one, e.g. alerts: { tokenEnv: ROLLBACK_ALERT_TOKEN, routes: [{ labels: { alertname: HighErrorRate }, target: NAME }] }`,
        );
      }
      const { createAlertServer, alertSecrets } = lazy.alerts();
      try {
        alertSecrets(loaded.config.alerts, process.env);
      } catch (err) {
        throw usage(`${(err as Error).message}: set it before starting rollback serve`);
      }
      const { connectionSettings, webUiBase } = lazy.connection();
      await withClient(
        ctx,
        async (client) => {
          const server = createAlertServer({
            client,
            configFile: loaded.file,
            webUiBase: webUiBase(connectionSettings(global).address),
            log: (line) => ctx.io.stderr(`serve: ${line}\n`),
          });
          const { port: bound } = await server.start(port, opts.listen);
          ctx.io.stderr(
            `serve: listening on http://${opts.listen}:${bound} (POST /alerts/alertmanager, /alerts/sns; task queue ${client.taskQueue})\n`,
          );
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          await server.stop();
        },
        opts.taskQueue,
      );
    });
}
