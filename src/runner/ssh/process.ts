import { PassThrough } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { readToEnd, stopGently, type HostProcess, type SpawnOptions } from '../types';
import { PID_MARKER, remoteSpawnCommand } from './command';

/**
 * A program started on the host through one exec channel of an open connection, its stdin and
 * stdout the channel's. The first line the remote shell prints is its pid (the process group
 * sshd made for the session), taken off before stdout is handed on, so stopping it can end the
 * group; a login shell's noise before that line is dropped.
 */
export function spawnOverSsh(
  conn: Client,
  where: string,
  argv: string[],
  options: SpawnOptions = {},
): Promise<HostProcess> {
  if (argv.length === 0) return Promise.reject(new Error('spawn needs a program to run'));
  const command = remoteSpawnCommand(argv, options);
  return new Promise((resolve, reject) => {
    conn.exec(command, (err, channel: ClientChannel) => {
      if (err) return reject(new Error(`${where}: cannot start ${argv[0]}: ${err.message}`));
      const stdout = new PassThrough();
      let pid: number | undefined;
      let pending = Buffer.alloc(0);
      channel.on('data', (d: Buffer) => {
        if (pid !== undefined) {
          stdout.write(d);
          return;
        }
        pending = Buffer.concat([pending, d]);
        const at = pending.indexOf(PID_MARKER);
        const nl = at < 0 ? -1 : pending.indexOf(0x0a, at);
        if (nl < 0) return;
        pid = Number(pending.subarray(at + Buffer.byteLength(PID_MARKER), nl).toString()) || 0;
        const rest = pending.subarray(nl + 1);
        pending = Buffer.alloc(0);
        if (rest.length) stdout.write(rest);
      });
      const stderr = channel.stderr.pipe(new PassThrough());
      // The channel can close before the caller reads what came with it (a program that fails at
      // once sends its stderr, exit and close in one packet): `exited` waits for that to be read.
      const exited = new Promise<void>((done) =>
        channel.once('close', () => {
          stdout.end();
          done();
        }),
      ).then(() => readToEnd(stdout, stderr));
      const kill = (signal: 'TERM' | 'KILL') =>
        new Promise<void>((done) => {
          if (!pid) {
            channel.close();
            return done();
          }
          conn.exec(
            `kill -${signal} -- -${pid} 2>/dev/null || kill -${signal} ${pid} 2>/dev/null`,
            (e, s) => {
              if (e) return done();
              s.resume().once('close', () => done());
            },
          );
        });
      resolve({
        stdin: channel,
        stdout,
        stderr,
        exited,
        stop: () => stopGently(channel, exited, kill),
      });
    });
  });
}
