import { join } from 'node:path';
import { pm2LogFiles } from '../../src/activities/logs';
import { deployUser, type DeployUser } from './deploy-user';
import { createSandbox, untilListening, type Sandbox, type SandboxOptions } from './sandbox';
import type { TestSshd } from './sshd';

/**
 * A sandbox on "another host": the deployment lives in the home of the SSH login (not the user
 * running the tests), is owned by it, and its bad release runs under that user's own pm2 daemon. The
 * rollback.yaml reaches it with `host: { ssh: ... }` through a real sshd, key pinned.
 */
export interface SshSandbox extends Sandbox {
  user: DeployUser;
  /** pm2 as the host runs it (argv). */
  pm2: string[];
  /** Runs pm2 as the login against the sandbox's daemon; returns stdout. */
  pm2AsUser(args: string[]): string;
}

export async function createSshSandbox(
  opts: SandboxOptions & { sshd: TestSshd; ssh?: Record<string, unknown> },
): Promise<SshSandbox> {
  return createUserSandbox({
    ...opts,
    host: {
      ssh: {
        host: opts.sshd.host.host,
        port: opts.sshd.host.port,
        user: opts.sshd.host.user,
        identityFile: opts.sshd.host.identityFile,
        hostKeySha256: opts.sshd.fingerprint,
        ...opts.ssh,
      },
    },
  });
}

/**
 * The same deployment, owned by the deploy user, reached through `host` (an SSH login, or a host
 * worker that runs as that user). Its stdio MCP check starts the server there, as that user.
 */
export async function createUserSandbox(
  opts: SandboxOptions & { host: Record<string, unknown> },
): Promise<SshSandbox> {
  const user = deployUser();
  const pm2 = user.pm2.length ? user.pm2 : [process.execPath, require.resolve('pm2/bin/pm2')];
  const sb = await createSandbox({
    ...opts,
    parentDir: user.home,
    startBad: false,
    configure: (target, config) => {
      target.host = opts.host;
      if (target.service.manager === 'pm2') target.service.pm2Command = pm2;
      opts.configure?.(target, config);
    },
  });
  const name = `lightdash-${sb.target}`;
  const pm2AsUser = (args: string[]) => user.run([...pm2, ...args], { PM2_HOME: sb.pm2Home });
  try {
    user.own(sb.root);
    if (opts.startBad !== false) {
      user.run([...pm2, 'start', join(sb.deployPath, 'server.js'), '--name', name, '--cwd', sb.deployPath], {
        PM2_HOME: sb.pm2Home,
        PORT: String(sb.port),
      });
      if (opts.badMode !== 'crash') await untilListening(name, sb.port, pm2LogFiles(name, sb.pm2Home));
    }
  } catch (err) {
    await sb.cleanup().catch(() => undefined);
    throw err;
  }
  return {
    ...sb,
    user,
    pm2,
    pm2AsUser,
    cleanup: async () => {
      try {
        pm2AsUser(['kill']);
      } catch {
        /* no daemon */
      }
      await sb.cleanup();
    },
  };
}
