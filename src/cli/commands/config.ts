import type { Command } from 'commander';
import { ConfigError } from '../../targets/errors';
import { emit } from '../output';
import type { CliContext } from '../session';
import { lazy } from '../lazy';

/** `rollback config check`: validates the config and the paths it names; changes nothing. */
export function registerConfig(program: Command, ctx: CliContext): void {
  const config = program.command('config').description('work with the rollback config');
  config
    .command('check')
    .description('validate the config and check the paths it names; changes nothing')
    .option('--skip-hosts', "do not log in to the targets' SSH hosts")
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean; skipHosts?: boolean }) => {
      const { checkTargetPaths, loadConfig } = lazy.config();
      const loaded = loadConfig(ctx.globals().config);
      const problems = Object.entries(loaded.config.targets).flatMap(([name, t]) =>
        checkTargetPaths(name, t),
      );
      // Every SSH host is asked, one connection each, read-only.
      const { checkTargetHost } = lazy.hostCheck();
      const hosts = opts.skipHosts
        ? []
        : (
            await Promise.all(
              Object.entries(loaded.config.targets).map(([name, t]) => checkTargetHost(name, t)),
            )
          ).filter((h) => h !== undefined);
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
}
