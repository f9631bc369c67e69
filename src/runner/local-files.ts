import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, open, readFile, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { HostFiles } from './types';

/** The files of this host. */
export const localFiles: HostFiles = {
  read: (path) => readFile(path),
  async readRange(path, start, end) {
    const buf = Buffer.alloc(Math.max(0, end - start));
    if (buf.length === 0) return buf;
    const file = await open(path, 'r');
    try {
      const { bytesRead } = await file.read(buf, 0, buf.length, start);
      return buf.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  },
  async stat(path) {
    try {
      const st = await stat(path);
      return { size: st.size, mode: st.mode & 0o7777 };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  },
  async writeAtomic(link, data, mode) {
    // A symlink stays one: the file it points to is replaced, as an editor saving it would.
    const path = await linkTarget(link);
    const tmp = `${path}.rollback-tmp-${process.pid}`;
    const file = await open(tmp, 'w', mode);
    try {
      await file.writeFile(data);
      // On disk before the rename, so a crash or power loss never keeps an empty file.
      await file.sync();
    } finally {
      await file.close();
    }
    await chmod(tmp, mode);
    await rename(tmp, path);
  },
  async mkdir(path, mode) {
    await mkdir(path, { recursive: true, mode });
  },
  async sha256(path) {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  },
  remove: (path) => rm(path, { force: true }),
};

/** `path`, or the file it links to, followed to the end (a dangling link: where it points). */
async function linkTarget(path: string): Promise<string> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isSymbolicLink()) return path;
  try {
    return await realpath(path);
  } catch {
    return resolve(dirname(path), await readlink(path));
  }
}
