import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localFiles } from '../src/runner/local-files';
import { SshRunner, SshSession } from '../src/runner/ssh';
import type { HostFiles } from '../src/runner/types';
import { startSshd, type TestSshd } from './rig/sshd';

/**
 * One contract for a host's files, run against this host's file system and against the same
 * folders reached over SFTP from a real OpenSSH server (test/rig/sshd.ts): what a backup or a
 * restore does on a remote host must be what it does here.
 */

let sshd: TestSshd;
let session: SshSession;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'host-files-'));
  sshd = await startSshd();
  // One connection for the whole file, as an activity attempt holds one.
  const runner = new SshRunner(sshd.host);
  session = new SshSession(runner, await runner.connect());
});

afterAll(async () => {
  session?.end();
  rmSync(dir, { recursive: true, force: true });
  await sshd?.stop();
});

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe.each([
  ['this host', () => localFiles],
  ['a host over SSH', () => sshSessionFiles()],
])('%s', (where, files: () => HostFiles) => {
  const base = () => join(dir, where.replace(/\W+/g, '-'));

  test('mkdir makes the folder and its parents with the mode asked for', async () => {
    await files().mkdir(join(base(), 'a', 'b'), 0o700);
    expect(statSync(join(base(), 'a', 'b')).isDirectory()).toBe(true);
    expect(statSync(join(base(), 'a', 'b')).mode & 0o777).toBe(0o700);
    await files().mkdir(join(base(), 'a', 'b'), 0o700); // already there: nothing to do
  });

  test('writeAtomic writes the bytes with the mode asked for, replaces a file whole and leaves no temporary file', async () => {
    const file = join(base(), 'a', '.env');
    await files().writeAtomic(file, 'SECRET=one\n', 0o600);
    expect(readFileSync(file, 'utf8')).toBe('SECRET=one\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13]);
    await files().writeAtomic(file, bytes, 0o640);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readdirSync(join(base(), 'a')).filter((f) => f.includes('rollback-tmp'))).toEqual([]);
  });

  test('read, stat and sha256 report what is on the host; stat of nothing is undefined', async () => {
    const file = join(base(), 'a', 'data');
    const data = Buffer.from('x'.repeat(70_000)); // more than one SFTP packet
    await files().writeAtomic(file, data, 0o644);
    expect((await files().read(file)).equals(data)).toBe(true);
    expect(await files().stat(file)).toEqual({ size: 70_000, mode: 0o644 });
    expect(await files().sha256(file)).toBe(sha(data));
    expect(await files().stat(join(base(), 'nothing-here'))).toBeUndefined();
  });

  test('remove deletes a file and is quiet when there is none', async () => {
    const file = join(base(), 'a', 'gone');
    await files().writeAtomic(file, 'x', 0o600);
    await files().remove(file);
    await files().remove(file);
    expect(await files().stat(file)).toBeUndefined();
  });

  test('reading a file that is not there fails', async () => {
    await expect(files().read(join(base(), 'missing'))).rejects.toThrow();
  });
});

test("over SSH, a relative path is refused (it would land under the login's home folder)", async () => {
  await expect(sshSessionFiles().writeAtomic('backups/x', 'x', 0o600)).rejects.toThrow(
    /not an absolute path on the host/,
  );
  await expect(sshSessionFiles().mkdir('backups', 0o700)).rejects.toThrow(/not an absolute path on the host/);
});

function sshSessionFiles(): HostFiles {
  return session.files();
}
