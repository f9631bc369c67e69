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
