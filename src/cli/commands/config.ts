import type { Command } from 'commander';
import { ConfigError } from '../../targets/errors';
import { emit } from '../output';
import type { CliContext } from '../session';
import { lazy } from '../lazy';
import { checkConfigHosts } from './hosts';

/** `rollback config check` (validates the config and the paths it names; changes nothing) and `config schema`. */
export function registerConfig(program: Command, ctx: CliContext): void {
  const config = program.command('config').description('work with the rollback config');
  config
    .command('check')
    .description('validate the config and check the paths it names; changes nothing')
    .option('--skip-hosts', "do not log in to the targets' SSH hosts nor ask about their host workers")
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean; skipHosts?: boolean }) => {
      const { checkTargetPaths, loadConfig } = lazy.config();
      const loaded = loadConfig(ctx.globals().config);
      const problems = Object.entries(loaded.config.targets).flatMap(([name, t]) =>
        checkTargetPaths(name, t),
      );
      // Every SSH host is asked (one connection each, read-only), every host worker's queue too.
      const hosts = opts.skipHosts ? [] : await checkConfigHosts(ctx, loaded);
      problems.push(...hosts.flatMap((h) => h.problems));
      if (problems.length)
        throw new ConfigError(`${loaded.file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
      const names = Object.keys(loaded.config.targets);
      const human = [
        `${loaded.file}: ok, ${names.length} target${names.length > 1 ? 's' : ''}: ${names.join(', ')}`,
        ...hosts.map((h) => `  ${h.target} on ${h.host}: ${h.checked.join('; ')}`),
      ].join('\n');
      emit(ctx.io, opts.json, human, { file: loaded.file, ok: true, targets: names, hosts });
    });

  config
    .command('schema')
    .description("print rollback.yaml's JSON Schema, for editors (yaml-language-server); reads no config")
    .action(() => {
      const schema = lazy.configSchema().configJsonSchema();
      ctx.io.stdout(`${JSON.stringify(schema, null, 2)}\n`);
    });
}
