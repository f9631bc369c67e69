import { localFiles } from '../runner/local-files';
import type { HostFiles } from '../runner/types';

/**
 * Text an activity copies from the host into a result or an error (a server's stderr, log lines)
 * lands in workflow history and in reports. The host's env files are where its secrets live, so
 * their values are masked before anything leaves the activity.
 */

const MIN_SECRET_LENGTH = 4; // shorter values (`1`, `true`, `eu`) would mask ordinary words

/** The values of KEY=VALUE lines (dotenv syntax) in these files; missing files are skipped. */
export async function envFileSecrets(files: string[], fs: HostFiles = localFiles): Promise<string[]> {
  const values = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = (await fs.read(file)).toString('utf8');
    } catch {
      continue;
    }
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      if (line.startsWith('export ')) line = line.slice(7).trim();
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      let value = line.slice(eq + 1).trim();
      if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]!)) {
        value = value.slice(1, -1);
      }
      if (value.length >= MIN_SECRET_LENGTH) values.add(value);
    }
  }
  // Longest first, so a secret that contains another is masked whole.
  return [...values].sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('[redacted]');
  return out;
}
