import { createHash, randomBytes } from 'node:crypto';
import type { SFTPWrapper } from 'ssh2';
import type { HostFiles, Runner } from '../types';

/** A host's files over SFTP; checksums are computed on the host with sha256sum. */

const EOF = 1;
const NO_SUCH_FILE = 2;
const isMissing = (err: unknown) => (err as { code?: unknown } | undefined)?.code === NO_SUCH_FILE;

function call<T>(fn: (cb: (err: Error | undefined | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/** Paths on a host are absolute: a relative one would resolve against the login's home folder. */
function absolute(path: string): string {
  if (!path.startsWith('/')) throw new Error(`${JSON.stringify(path)} is not an absolute path on the host`);
  return path;
}

export class SftpFiles implements HostFiles {
  private readonly sftp: () => Promise<SFTPWrapper>;

  constructor(
    sftp: () => Promise<SFTPWrapper>,
    private readonly session: Runner,
  ) {
    this.sftp = sftp;
  }

  /** The SFTP session, once the path is known to be absolute. */
  private async at(path: string): Promise<SFTPWrapper> {
    absolute(path);
    return this.sftp();
  }

  async read(path: string): Promise<Buffer> {
    const s = await this.at(path);
    return call<Buffer>((cb) => s.readFile(path, cb));
  }

  async readRange(path: string, start: number, end: number): Promise<Buffer> {
    const s = await this.at(path);
    const buf = Buffer.alloc(Math.max(0, end - start));
    if (buf.length === 0) return buf;
    const handle = await call<Buffer>((cb) => s.open(path, 'r', cb));
    try {
      let got = 0;
      // SFTP reads come in chunks (32 KiB with OpenSSH): read until the range is full or the file ends.
      while (got < buf.length) {
        const n = await call<number>((cb) =>
          s.read(handle, buf, got, Math.min(32 * 1024, buf.length - got), start + got, (err, bytes) =>
            // SFTP answers a read at the end of the file with an EOF status (1), not 0 bytes.
            (err as { code?: unknown } | undefined)?.code === EOF ? cb(undefined, 0) : cb(err, bytes),
          ),
        );
        if (n <= 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      await call<void>((cb) => s.close(handle, (err) => cb(err, undefined)));
    }
  }

  async stat(path: string): Promise<{ size: number; mode: number } | undefined> {
    const s = await this.at(path);
    try {
      const st = await call<{ size: number; mode: number }>((cb) => s.stat(path, cb));
      return { size: st.size, mode: st.mode & 0o7777 };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async writeAtomic(link: string, data: Buffer | string, mode: number): Promise<void> {
    const s = await this.at(link);
    // A symlink stays one: the file it points to is replaced, as an editor saving it would.
    const path = await this.linkTarget(s, link);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const tmp = `${path}.rollback-tmp-${randomBytes(4).toString('hex')}`;
    try {
      await call<void>((cb) => s.writeFile(tmp, bytes, { mode }, (err) => cb(err, undefined)));
      await call<void>((cb) => s.chmod(tmp, mode, (err) => cb(err, undefined)));
      // On disk before the rename, so a host that loses power never keeps an empty file.
      const handle = await call<Buffer>((cb) => s.open(tmp, 'r+', cb));
      try {
        await call<unknown>((cb) => s.ext_openssh_fsync(handle, cb));
      } finally {
        await call<void>((cb) => s.close(handle, (err) => cb(err, undefined)));
      }
      // Checked on both ends before it replaces anything: what arrived is what was sent.
      const sent = createHash('sha256').update(bytes).digest('hex');
      const arrived = await this.sha256(tmp);
      if (arrived !== sent) throw new Error(`${path}: wrote sha256 ${sent}, the host has ${arrived}`);
      await call<void>((cb) => s.ext_openssh_rename(tmp, path, (err) => cb(err, undefined)));
    } catch (err) {
      await this.remove(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** `path`, or the file it links to (followed to the end, resolved on the host). */
  private async linkTarget(s: SFTPWrapper, path: string): Promise<string> {
    const st = await call<{ isSymbolicLink(): boolean }>((cb) => s.lstat(path, cb)).catch((err) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    if (!st?.isSymbolicLink()) return path;
    const real = await call<string>((cb) => s.realpath(path, cb)).catch(() => undefined);
    if (real?.startsWith('/') && real !== path) return real;
    // A dangling link (OpenSSH's realpath wants the file to exist): where it points.
    const r = await this.session.run(['readlink', '-m', '--', path]);
    const resolved = r.stdout.trim();
    if (r.exitCode !== 0 || !resolved.startsWith('/'))
      throw new Error(`${path} is a symlink the host cannot resolve: ${r.stderr.trim()}`);
    return resolved;
  }

  async mkdir(path: string, mode: number): Promise<void> {
    const s = await this.at(path);
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      if (await this.stat(dir)) continue;
      await call<void>((cb) => s.mkdir(dir, { mode }, (err) => cb(err, undefined)));
    }
  }

  async sha256(path: string): Promise<string> {
    const r = await this.session.run(['sha256sum', '--', path]);
    const hex = /^([0-9a-f]{64})\s/.exec(r.stdout)?.[1];
    if (r.exitCode !== 0 || !hex) throw new Error(`sha256sum ${path} failed on the host: ${r.stderr.trim()}`);
    return hex;
  }

  async remove(path: string): Promise<void> {
    const s = await this.at(path);
    try {
      await call<void>((cb) => s.unlink(path, (err) => cb(err, undefined)));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
}
