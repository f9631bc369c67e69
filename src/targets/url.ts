import { z } from 'zod';

/**
 * The rule for every URL a config names (checks, channels, emulator endpoints). `new URL` takes
 * far more than a rollback can reach: `file:///etc/passwd`, port 0, `http://${UNSET}/` (a host
 * named "${unset}"), `http:host`. A URL that cannot answer would only be found after the service
 * was stopped, so it is refused here. A leaf module: notification channels import it too.
 */

const AUTHORITY = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i;
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
const IPV4_LIKE = /^[\d.]+$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const PLACEHOLDER = /\$\{[^}]*\}?|\{\{[^}]*\}?\}?/;

/** Why `value` is not a URL a rollback can reach, with the fix; undefined when it is fine. */
export function httpUrlProblem(value: string, example: string): string | undefined {
  const placeholder = PLACEHOLDER.exec(value);
  if (placeholder) {
    return `holds "${placeholder[0]}", which nothing expands (the config is not run through a shell or a template): write the URL itself, like ${example}`;
  }
  const m = AUTHORITY.exec(value.trim());
  if (!m) return `must be an http:// or https:// URL, like ${example}`;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    return `uses ${scheme}:, but checks and notifications speak HTTP: write an http:// or https:// URL, like ${example}`;
  }
  const authority = m[2]!;
  if (authority.includes('@')) {
    return 'holds a user name or password (user:password@host), which would be stored in every workflow history: drop them (a secret URL belongs in a worker env variable, urlEnv)';
  }
  const hp = /^(\[[0-9A-Fa-f:.]+\]|[^:]*)(?::(.*))?$/.exec(authority)!;
  const host = hp[1]!;
  const port = hp[2];
  if (!host) return `names no host: write the host and port, like ${example}`;
  const hostOk = host.startsWith('[')
    ? URL.canParse(`http://${host}/`)
    : HOSTNAME.test(host) && (!IPV4_LIKE.test(host) || IPV4.test(host));
  if (!hostOk) {
    return `has "${host}" as its host, which is not a host name or IP address: write one, like ${example}`;
  }
  if (port !== undefined) {
    const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
    if (!(n >= 1 && n <= 65535)) {
      return `has port "${port}": give a port from 1 to 65535 (or none, for the scheme's default), like ${example}`;
    }
  }
  if (!URL.canParse(value)) return `is not a valid URL: write it like ${example}`;
  return undefined;
}

/** An http(s) URL with a real host and, when given, a port 1–65535. */
export function httpUrl(example: string) {
  return z.string().superRefine((value, ctx) => {
    const problem = httpUrlProblem(value, example);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}
