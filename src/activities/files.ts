import { dirname, join } from 'node:path/posix';
import type { HostSpec } from '../model';
import { staysInside } from '../model/env-files';
import { localFiles } from '../runner/local-files';
import type { Host } from '../runner/types';
import { done, permanent, type StepResult } from './common';
import type { ActivityDeps } from './deps';
import { isTracked } from './git';

/** Only names, sizes and checksums leave the host: file contents (secrets) never enter history. */
export interface BackedUpFile extends Record<string, unknown> {
  file: string;
  sha256: string | null;
  size: number | null;
  mode: number | null;
}

export interface BackupManifest extends Record<string, unknown> {
  backupPath: string;
  createdAt: string;
  source: string;
  files: BackedUpFile[];
}

const MANIFEST = 'manifest.json';

/**
 * `file` under `folder`, refused when it would leave it (an absolute path, a `..`): the config
 * refuses such names, and a plan that names one anyway writes nothing.
 */
function inside(folder: string, file: string): string {
  if (!file || !staysInside(file)) {
    throw permanent(
      `${JSON.stringify(file)} is not a path inside ${folder}: config files are named relative to the deploy path, without ".." (nothing was written)`,
      'BadInput',
    );
  }
  return join(folder, file);
}

/** Write through a temporary file and rename, so a crash never leaves a half-written file. */
export const writeFileAtomic = (file: string, data: Buffer | string, mode = 0o600): Promise<void> =>
  localFiles.writeAtomic(file, data, mode);

/**
 * Copies the config files into the backup folder. If that folder already holds a complete
 * backup (a retry, or a worker that crashed after backing up), it is kept as it is: taking it
 * again could capture a state the rollback itself had already changed.
 */
async function backupFiles(
  input: {
    path: string;
    files: string[];
    backupPath: string;
  },
  { files: fs }: Host,
): Promise<StepResult<BackupManifest>> {
  for (const file of input.files) inside(input.path, file);
  const manifestFile = join(input.backupPath, MANIFEST);
  if (await fs.stat(manifestFile)) {
    const manifest = JSON.parse((await fs.read(manifestFile)).toString('utf8')) as BackupManifest;
    return done(`backup already taken at ${input.backupPath} (${manifest.files.length} files)`, manifest);
  }
  await fs.mkdir(input.backupPath, 0o700);
  const files: BackedUpFile[] = [];
  for (const file of input.files) {
    const src = inside(input.path, file);
    const st = await fs.stat(src);
    if (!st) {
      files.push({ file, sha256: null, size: null, mode: null });
      continue;
    }
    const dest = inside(join(input.backupPath, 'files'), file);
    await fs.mkdir(dirname(dest), 0o700);
    // Owner-only, whatever the original's mode: a backup holds what .env holds. The original's mode
    // is kept in the manifest, and a restore writes the file back with it. The write checks the
    // copy's sha256 on the host.
    await fs.writeAtomic(dest, await fs.read(src), 0o600);
    files.push({ file, sha256: await fs.sha256(dest), size: st.size, mode: st.mode & 0o777 });
  }
  const manifest: BackupManifest = {
    backupPath: input.backupPath,
    createdAt: new Date().toISOString(),
    source: input.path,
    files,
  };
  // The manifest is written last: its presence means the backup is complete.
  await fs.writeAtomic(manifestFile, JSON.stringify(manifest, null, 2), 0o600);
  const present = files.filter((f) => f.sha256);
  return done(
    `backed up ${present.map((f) => f.file).join(', ') || 'nothing'} to ${input.backupPath}`,
    manifest,
  );
}

/**
 * Restores config files from a backup. With `untrackedOnly`, files git tracks at the checked-out
 * commit are left as the checkout made them (package.json of the stable release), and only the
 * host's own files (.env) come back. A file found under `releaseConfigPath` (the config saved when
 * that release was deployed) wins over the pre-rollback backup. Restoring is idempotent: a file
 * already equal to its backup is not rewritten.
 */
async function restoreConfigFiles(
  input: {
    path: string;
    files: string[];
    backupPath: string;
    releaseConfigPath?: string;
    untrackedOnly?: boolean;
  },
  host: Host,
): Promise<StepResult<{ restored: string[]; unchanged: string[]; kept: string[] }>> {
  const fs = host.files;
  for (const file of input.files) inside(input.path, file);
  const manifestFile = join(input.backupPath, MANIFEST);
  if (!(await fs.stat(manifestFile))) {
    throw permanent(
      `no backup at ${input.backupPath} (manifest.json missing); cannot restore config files`,
      'BackupMissing',
    );
  }
  const manifest = JSON.parse((await fs.read(manifestFile)).toString('utf8')) as BackupManifest;
  const restored: string[] = [];
  const unchanged: string[] = [];
  const kept: string[] = [];
  for (const file of input.files) {
    if (input.untrackedOnly && (await isTracked(input.path, file, host.runner))) {
      kept.push(file);
      continue;
    }
    const fromRelease = input.releaseConfigPath ? join(input.releaseConfigPath, file) : null;
    const entry = manifest.files.find((f) => f.file === file);
    let source: string | null = null;
    let expected: string | null = null;
    if (fromRelease && (await fs.stat(fromRelease))) {
      source = fromRelease;
      expected = await fs.sha256(fromRelease);
    } else if (entry?.sha256) {
      source = join(input.backupPath, 'files', file);
      expected = entry.sha256;
      const actual = await fs.sha256(source);
      if (actual !== expected) {
        throw permanent(
          `backup of ${file} at ${source} does not match its recorded checksum; refusing to restore it`,
          'BackupCorrupt',
        );
      }
    }
    if (!source || !expected) continue; // the file did not exist before the rollback
    const dest = inside(input.path, file);
    if ((await fs.stat(dest)) && (await fs.sha256(dest)) === expected) {
      unchanged.push(file);
      continue;
    }
    const mode = entry?.mode ?? 0o600;
    await fs.mkdir(dirname(dest), 0o755);
    await fs.writeAtomic(dest, await fs.read(source), mode);
    restored.push(file);
  }
  const parts = [
    restored.length ? `restored ${restored.join(', ')}` : 'nothing to restore',
    unchanged.length ? `unchanged ${unchanged.join(', ')}` : '',
    kept.length ? `from the checkout: ${kept.join(', ')}` : '',
  ].filter(Boolean);
  return done(parts.join('; '), { restored, unchanged, kept });
}

/**
 * Sets KEY=VALUE lines in an env file (replacing a key's line, or appending it), written atomically
 * with the file's mode kept. Idempotent: a file that already says so is not touched. Only the flag
 * names and values (from the config) are reported; the rest of the file is never read out.
 */
async function setEnvFlags(
  input: {
    path: string;
    envFile: string;
    flags: Record<string, string>;
  },
  { files: fs }: Host,
): Promise<StepResult<{ changed: string[] }>> {
  const file = inside(input.path, input.envFile);
  const st = await fs.stat(file);
  const text = st ? (await fs.read(file)).toString('utf8') : '';
  const mode = st ? st.mode & 0o777 : 0o600;
  const lines = text.length ? text.replace(/\n$/, '').split('\n') : [];
  const changed: string[] = [];
  for (const [key, value] of Object.entries(input.flags)) {
    const idx = lines.findIndex((l) => new RegExp(`^\\s*(export\\s+)?${key}\\s*=`).test(l));
    const line = `${key}=${value}`;
    if (idx >= 0) {
      if (lines[idx]!.trim() === line) continue;
      lines[idx] = line;
    } else {
      lines.push(line);
    }
    changed.push(key);
  }
  const flags = Object.entries(input.flags)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  if (changed.length === 0) return done(`${input.envFile} already has ${flags}`, { changed });
  await fs.writeAtomic(file, lines.join('\n') + '\n', mode);
  return done(`set ${flags} in ${input.envFile}`, { changed });
}

export type RestoreInput = Parameters<typeof restoreConfigFiles>[0];

/** Backups and restores of a target's config files, and the env flags of partial rollbacks. */
export function fileActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    backupFiles: (input: Parameters<typeof backupFiles>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => backupFiles(input, host)),
    restoreConfigFiles: (input: RestoreInput, on?: HostSpec) =>
      deps.onHost(on, (host) => restoreConfigFiles(input, host)),
    setEnvFlags: (input: Parameters<typeof setEnvFlags>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => setEnvFlags(input, host)),
  };
}
