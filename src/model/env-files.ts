/**
 * Where a host's secrets live: its env files (`.env`, `.env.production`, `config/.env.local`).
 * Their values are masked in anything a check reports, and their contents never leave the host.
 */
export function isEnvFile(path: string): boolean {
  return /(^|\/)\.env[^/]*$/.test(path);
}

/** The env files among a target's config files; `.env` when it names none. */
export function envFilesOf(configFiles: readonly string[]): string[] {
  const files = configFiles.filter(isEnvFile);
  return files.length ? files : ['.env'];
}

/** The host's env file among the config files (`.env`, `.env.production`, not an example), if any. */
export function envFileOf(configFiles: readonly string[]): string | undefined {
  return configFiles.find((f) => /(^|\/)\.env($|\.)/.test(f) && !/\.(example|sample|template)$/.test(f));
}

/** A config file's name stays inside the folder it is named relative to: not absolute, no `..`. */
export function staysInside(path: string): boolean {
  return !path.startsWith('/') && !path.split('/').includes('..');
}
