import { open, readFile, stat } from 'node:fs/promises';
import type { SignalSpec } from '../model/guard';
import { tail } from '../runner/types';
import { freshFetch, LOCAL_HOST } from '../runner/local-host';
import type { ActivityDeps } from './deps';
import { parsePm2List } from './service';

/**
 * The guard's signals, sampled on the worker's own machine. A source that fails gives no value and
 * says why (a note); it never throws, so one dead source does not stop the others being sampled.
 */

export interface SampleRequest {
  rule: string;
  signal: SignalSpec;
  /** error-log: the byte offset read up to, and when (epoch ms), from the previous sample. */
  offset?: number;
  sinceMs?: number;
}

export interface SampleResult {
  rule: string;
  value?: number;
  note?: string;
  offset?: number;
}

/** How much of a log one sample reads at most (the rest waits for the next sample). */
const MAX_LOG_BYTES = 8 * 1024 * 1024;

type Env = Readonly<Record<string, string | undefined>>;

async function httpHealth(
  s: Extract<SignalSpec, { type: 'http-health' }>,
): Promise<Omit<SampleResult, 'rule'>> {
  const answers = await Promise.all(
    s.urls.map(async (url) => {
      try {
        const res = await freshFetch(url, { signal: AbortSignal.timeout(s.timeoutMs) });
        await res.arrayBuffer();
        return res.status === s.expectStatus ? undefined : `${url} answered ${res.status}`;
      } catch (err) {
        return `${url}: ${(err as Error).name === 'TimeoutError' ? `no answer in ${s.timeoutMs} ms` : (err as Error).message}`;
      }
    }),
  );
  const bad = answers.filter((a) => a !== undefined);
  return {
    value: bad.length / s.urls.length,
    note: bad.length
      ? `${bad.length}/${s.urls.length} unhealthy: ${bad.slice(0, 3).join('; ')}`
      : `${s.urls.length} healthy`,
  };
}

interface PromAnswer {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

async function prometheus(
  s: Extract<SignalSpec, { type: 'prometheus' }>,
  env: Env,
): Promise<Omit<SampleResult, 'rule'>> {
  const headers: Record<string, string> = {};
  if (s.tokenEnv) {
    const token = env[s.tokenEnv];
    if (!token) return { note: `${s.tokenEnv} is not set in the worker's environment` };
    headers.authorization = `Bearer ${token}`;
  }
  const url = `${s.url.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(s.query)}`;
  let body: PromAnswer;
  try {
    const res = await freshFetch(url, { headers, signal: AbortSignal.timeout(10_000) });
    body = (await res.json()) as PromAnswer;
    if (!res.ok || body.status !== 'success')
      return { note: `prometheus answered ${res.status}: ${body.error ?? 'no error text'}` };
  } catch (err) {
    return { note: `prometheus at ${s.url}: ${(err as Error).message}` };
  }
  const { resultType, result } = body.data ?? {};
  let raw: unknown;
  if (resultType === 'scalar') raw = (result as unknown[])[1];
  else if (resultType === 'vector') raw = (result as { value: unknown[] }[])[0]?.value?.[1];
  else
    return { note: `query gave a ${resultType ?? 'missing'} result; give an instant vector or scalar query` };
  if (raw === undefined) return { note: 'no data' };
  const value = Number(raw);
  return Number.isFinite(value) ? { value } : { note: `value ${String(raw)}` };
}

async function pidOf(s: Extract<SignalSpec, { type: 'process-memory' }>): Promise<number | string> {
  if (s.pidFile) {
    const pid = Number((await readFile(s.pidFile, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : `${s.pidFile} holds no pid`;
  }
  const r = await LOCAL_HOST.runner.run([process.execPath, require.resolve('pm2/bin/pm2'), 'jlist'], {
    env: s.pm2!.home ? { PM2_HOME: s.pm2!.home } : {},
    timeoutMs: 30_000,
  });
  if (r.exitCode !== 0) return `pm2 jlist failed: ${tail(r.stderr, 3)}`;
  const proc = parsePm2List(r.stdout).find((p) => p.name === s.pm2!.name);
  return proc?.pid ? proc.pid : `pm2 process ${s.pm2!.name} is not running`;
}

async function processMemory(
  s: Extract<SignalSpec, { type: 'process-memory' }>,
): Promise<Omit<SampleResult, 'rule'>> {
  try {
    const pid = await pidOf(s);
    if (typeof pid === 'string') return { note: pid };
    const kb = (text: string, key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]);
    const rssKb = kb(await readFile(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
    if (s.unit === 'mb') return { value: Math.round(rssKb / 102.4) / 10, note: `pid ${pid}` };
    const totalKb = kb(await readFile('/proc/meminfo', 'utf8'), 'MemTotal');
    return { value: Math.round((rssKb / totalKb) * 10000) / 100, note: `pid ${pid}` };
  } catch (err) {
    return { note: (err as Error).message };
  }
}

async function errorLog(
  req: SampleRequest & { signal: Extract<SignalSpec, { type: 'error-log' }> },
): Promise<Omit<SampleResult, 'rule'>> {
  const s = req.signal;
  let size: number;
  try {
    size = (await stat(s.file)).size;
  } catch (err) {
    return { note: (err as Error).message, offset: req.offset };
  }
  // The first sample starts at the end: lines written before the guard began are not its business.
  if (req.offset === undefined || req.sinceMs === undefined)
    return { offset: size, note: 'reading from here on' };
  const from = size < req.offset ? 0 : req.offset; // rotated or truncated: start over
  const length = Math.min(size - from, MAX_LOG_BYTES);
  const buf = Buffer.alloc(length);
  const fh = await open(s.file, 'r');
  try {
    await fh.read(buf, 0, length, from);
  } finally {
    await fh.close();
  }
  // Only whole lines: a line still being written is counted by the next sample.
  const text = buf.toString('utf8');
  const end = text.lastIndexOf('\n') + 1;
  const patterns = s.patterns.map((p) => new RegExp(p));
  const lines = text
    .slice(0, end)
    .split('\n')
    .filter((l) => patterns.some((p) => p.test(l)));
  const minutes = Math.max(1 / 60, (Date.now() - req.sinceMs) / 60_000);
  return {
    value: Math.round((lines.length / minutes) * 100) / 100,
    note: `${lines.length} matching line(s) in ${Math.round(minutes * 60)} s`,
    offset: from + Buffer.byteLength(text.slice(0, end)),
  };
}

export function signalActivities(deps: ActivityDeps) {
  return {
    /** One sample of every rule's signal, side by side. Read-only: safe to retry at any point. */
    async sampleSignals(input: { samples: SampleRequest[] }): Promise<SampleResult[]> {
      return Promise.all(
        input.samples.map(async (req): Promise<SampleResult> => {
          const s = req.signal;
          const out =
            s.type === 'http-health'
              ? await httpHealth(s)
              : s.type === 'prometheus'
                ? await prometheus(s, deps.env)
                : s.type === 'process-memory'
                  ? await processMemory(s)
                  : await errorLog({ ...req, signal: s });
          return { rule: req.rule, ...out };
        }),
      );
    },
  };
}
