import type { SignalSpec } from '../model/guard';
import { tail, type Host } from '../runner/types';
import { freshFetch } from '../runner/local-host';
import type { ActivityDeps } from './deps';
import { parsePm2List, pm2Argv } from './service';
import { alarmsSignal, metricSignal, targetGroupSignal } from './signals-aws';

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

async function pidOf(
  s: Extract<SignalSpec, { type: 'process-memory' }>,
  host: Host,
): Promise<number | string> {
  if (s.pidFile) {
    const pid = Number((await host.files.read(s.pidFile)).toString('utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : `${s.pidFile} holds no pid`;
  }
  const r = await host.runner.run(pm2Argv({ pm2Command: s.pm2!.command }, host, ['jlist']), {
    env: s.pm2!.home ? { PM2_HOME: s.pm2!.home } : {},
    timeoutMs: 30_000,
  });
  if (r.exitCode !== 0) return `pm2 jlist on ${host.label} failed: ${tail(r.stderr, 3)}`;
  const proc = parsePm2List(r.stdout).find((p) => p.name === s.pm2!.name);
  return proc?.pid ? proc.pid : `pm2 process ${s.pm2!.name} is not running on ${host.label}`;
}

async function processMemory(
  s: Extract<SignalSpec, { type: 'process-memory' }>,
  host: Host,
): Promise<Omit<SampleResult, 'rule'>> {
  try {
    const pid = await pidOf(s, host);
    if (typeof pid === 'string') return { note: pid };
    const kb = (text: Buffer, key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text.toString('utf8'))?.[1]);
    const rssKb = kb(await host.files.read(`/proc/${pid}/status`), 'VmRSS');
    if (s.unit === 'mb')
      return { value: Math.round(rssKb / 102.4) / 10, note: `pid ${pid} on ${host.label}` };
    const totalKb = kb(await host.files.read('/proc/meminfo'), 'MemTotal');
    return { value: Math.round((rssKb / totalKb) * 10000) / 100, note: `pid ${pid} on ${host.label}` };
  } catch (err) {
    return { note: (err as Error).message };
  }
}

async function errorLog(
  req: SampleRequest & { signal: Extract<SignalSpec, { type: 'error-log' }> },
  host: Host,
): Promise<Omit<SampleResult, 'rule'>> {
  const s = req.signal;
  let size: number;
  try {
    const st = await host.files.stat(s.file);
    if (!st) return { note: `${s.file} is not there on ${host.label}`, offset: req.offset };
    size = st.size;
  } catch (err) {
    return { note: (err as Error).message, offset: req.offset };
  }
  // The first sample starts at the end: lines written before the guard began are not its business.
  if (req.offset === undefined || req.sinceMs === undefined)
    return { offset: size, note: 'reading from here on' };
  const from = size < req.offset ? 0 : req.offset; // rotated or truncated: start over
  const buf = await host.files.readRange(s.file, from, from + Math.min(size - from, MAX_LOG_BYTES));
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
  async function sampleOne(req: SampleRequest, s: SignalSpec): Promise<Omit<SampleResult, 'rule'>> {
    switch (s.type) {
      case 'http-health':
        return httpHealth(s);
      case 'prometheus':
        return prometheus(s, deps.env);
      case 'process-memory':
        return deps.onHost(s.on, (host) => processMemory(s, host));
      case 'error-log':
        return deps.onHost(s.on, (host) => errorLog({ ...req, signal: s }, host));
      case 'target-group':
        return targetGroupSignal(deps.aws, s);
      case 'cloudwatch-alarms':
        return alarmsSignal(deps.aws, s);
      case 'cloudwatch-metric':
        return metricSignal(deps.aws, s);
    }
  }
  return {
    /** One sample of every rule's signal, side by side. Read-only: safe to retry at any point. */
    async sampleSignals(input: { samples: SampleRequest[] }): Promise<SampleResult[]> {
      return Promise.all(
        input.samples.map(async (req): Promise<SampleResult> => {
          const s = req.signal;
          // A source that fails (an SSH host that does not answer) gives no value, and says why.
          const out = await sampleOne(req, s).catch((err: unknown) => ({
            note: (err as Error).message,
            ...(req.offset !== undefined ? { offset: req.offset } : {}),
          }));
          return { rule: req.rule, ...out };
        }),
      );
    },
  };
}
