import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
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

  test('writeAtomic through a symlink keeps the link and replaces the file it points to (a chain, a dangling link)', async () => {
    const shared = join(base(), 'shared');
    const app = join(base(), 'app');
    mkdirSync(shared, { recursive: true });
    mkdirSync(app, { recursive: true });
    writeFileSync(join(shared, 'real.env'), 'OUT=1\n');
    symlinkSync('../shared/real.env', join(shared, 'hop.env'));
    symlinkSync('../shared/hop.env', join(app, '.env'));
    await files().writeAtomic(join(app, '.env'), 'OUT=1\nNEW_UI=false\n', 0o600);
    expect(lstatSync(join(app, '.env')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(shared, 'hop.env')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(shared, 'real.env'), 'utf8')).toBe('OUT=1\nNEW_UI=false\n');
    expect(readdirSync(shared).filter((f) => f.includes('rollback-tmp'))).toEqual([]);
    symlinkSync('../shared/not-yet.env', join(app, 'dangling.env'));
    await files().writeAtomic(join(app, 'dangling.env'), 'A=1\n', 0o600);
    expect(lstatSync(join(app, 'dangling.env')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(shared, 'not-yet.env'), 'utf8')).toBe('A=1\n');
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
