/**
 * A container's environment as the rollback copies it: env files read as `docker run --env-file`
 * does, the engine's `KEY=VALUE` lists as maps. Values are handled here and never returned.
 */

/**
 * `KEY=VALUE` lines of an env file, as `docker run --env-file` reads them: no quotes, no expansion,
 * a name with blanks in it refused (docker refuses it too).
 */
export function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq === 0) throw new Error(`line ${i + 1} has no variable name before "="`);
    const name = eq < 0 ? line : line.slice(0, eq);
    if (/\s/.test(name))
      throw new Error(
        `line ${i + 1}: the variable name ${JSON.stringify(name.slice(0, 40))} has blanks in it`,
      );
    if (eq < 0) return; // `KEY` alone takes the engine's environment: not ours to copy
    env.set(name, line.slice(eq + 1));
  });
  return env;
}

export const toMap = (env: string[] | undefined) =>
  new Map(
    (env ?? []).map((e) => [e.slice(0, Math.max(e.indexOf('='), 0)) || e, e.slice(e.indexOf('=') + 1)]),
  );

/** Set by the engine, not by whoever ran the container. */
export const ENGINE_ENV = new Set(['HOSTNAME', 'container']);
