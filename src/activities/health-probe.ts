import type { Host } from '../runner/types';

/** `v1.11.4` and `1.11.4` name the same release. */
export function sameVersion(a: string, b: string): boolean {
  const norm = (v: string) => v.trim().replace(/^v/i, '');
  return norm(a) === norm(b);
}

interface HealthBody {
  status?: string;
  version?: string;
  reason?: string;
}

export interface HealthTarget {
  url: string;
  /** When set, healthy means this version too. */
  expectedVersion?: string;
}

export type HealthProbe =
  { healthy: true; status: string; version: string | null } | { healthy: false; why: string };

/**
 * One request to a health endpoint, judged: a 2xx whose JSON `status` (if any) is healthy or ok,
 * and reports the expected version (if one is expected). Never throws: an endpoint that does not
 * answer is "not healthy", and why.
 */
export async function probeHealth(
  target: HealthTarget,
  host: Host,
  signal: AbortSignal,
): Promise<HealthProbe> {
  try {
    const res = await host.fetch(target.url, { signal });
    const text = await res.text();
    let body: HealthBody = {};
    try {
      body = JSON.parse(text) as HealthBody;
    } catch {
      /* not JSON: judged by status code alone */
    }
    const healthy =
      res.ok && (body.status === undefined || body.status === 'healthy' || body.status === 'ok');
    const version = body.version ?? null;
    if (healthy && (!target.expectedVersion || (version && sameVersion(version, target.expectedVersion))))
      return { healthy: true, status: body.status ?? String(res.status), version };
    return {
      healthy: false,
      why: healthy
        ? `healthy but version ${version ?? '(none reported)'}, expected ${target.expectedVersion}`
        : `HTTP ${res.status} ${body.status ?? ''}${body.reason ? ` (${body.reason})` : ''}`.trim(),
    };
  } catch (err) {
    return { healthy: false, why: `no answer: ${(err as Error).message}` };
  }
}
