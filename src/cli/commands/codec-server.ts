import type { Command } from 'commander';
import { portOption, usage } from '../errors';
import { lazy } from '../lazy';
import type { CliContext } from '../session';

interface CodecServerOptions {
  port: string;
  listen: string;
  origin?: string[];
  tokenEnv?: string;
}

/**
 * `rollback codec-server`: the payload codec over HTTP, for the Temporal Web UI ("Codec Server
 * endpoint" in its settings, or the server's `--ui-codec-endpoint`) and `temporal --codec-endpoint`.
 * The keys come from the same environment as the worker's.
 */
export function registerCodecServer(program: Command, ctx: CliContext): void {
  program
    .command('codec-server')
    .description(
      'decode encrypted payloads for the Temporal Web UI and CLI (keys from ROLLBACK_CODEC_KEYS or ROLLBACK_CODEC_KEY_FILE)',
    )
    .option('--port <port>', 'HTTP port (POST /encode, /decode)', '8081')
    .option('--listen <address>', 'address to bind', '127.0.0.1')
    .option(
      '--origin <url>',
      'a browser origin allowed to call it (the Web UI), repeatable; default http://localhost:8233 and http://127.0.0.1:8233',
      (value: string, all: string[] = []) => [...all, value],
    )
    .option('--token-env <name>', 'an environment variable holding a bearer token every request must carry')
    .action(async (opts: CodecServerOptions) => {
      const port = portOption(opts.port);
      for (const o of opts.origin ?? []) {
        const u = URL.canParse(o) ? new URL(o) : undefined;
        const ok = (u?.protocol === 'http:' || u?.protocol === 'https:') && u.origin === o;
        if (!ok)
          throw usage(
            `--origin ${o} is not an origin; give scheme://host[:port], e.g. http://localhost:8233`,
          );
      }
      const token = opts.tokenEnv ? process.env[opts.tokenEnv] : undefined;
      if (opts.tokenEnv && !token)
        throw usage(
          `--token-env ${opts.tokenEnv}: that variable is not set; set it before starting the codec server`,
        );
      const { codecKeysFromEnv, EncryptionCodec } = lazy.codec();
      const keys = codecKeysFromEnv(process.env);
      if (!keys) {
        throw usage(
          'no keys: set ROLLBACK_CODEC_KEYS (id:base64key, the first writes) or ROLLBACK_CODEC_KEY_FILE, the same as the worker has',
        );
      }
      const origins = opts.origin?.length ? opts.origin : ['http://localhost:8233', 'http://127.0.0.1:8233'];
      const server = lazy.codecServer().createCodecServer({
        codec: new EncryptionCodec(keys),
        origins,
        ...(token ? { token } : {}),
        log: (line) => ctx.io.stderr(`codec-server: ${line}\n`),
      });
      const { port: bound } = await server.start(port, opts.listen);
      ctx.io.stderr(
        `codec-server: listening on http://${opts.listen}:${bound} (keys ${keys.map((k) => k.id).join(', ')}; writes with ${keys[0].id}; origins ${origins.join(', ')}${token ? '; bearer token required' : ''})\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.stop();
    });
}
