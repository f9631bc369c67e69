import { isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { done, heartbeat, type StepResult } from './common';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/**
 * Polls the health endpoint until it reports healthy (and the expected version) or the deadline
 * passes. No fixed sleep: a service that comes up in 300 ms is validated in 300 ms.
 */
export async function checkHealth(input: {
  url: string;
  expectedVersion?: string;
  timeoutSeconds: number;
}): Promise<StepResult<{ status: string; version: string | null; waitedMs: number }>> {
  const started = Date.now();
  const deadline = started + input.timeoutSeconds * 1000;
  let last = 'no answer yet';
  for (;;) {
    heartbeat(last);
    try {
      const res = await fetch(input.url, { signal: AbortSignal.timeout(5000) });
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
      if (healthy && (!input.expectedVersion || (version && sameVersion(version, input.expectedVersion)))) {
        return done(`healthy${version ? `, version ${version}` : ''} after ${Date.now() - started} ms`, {
          status: body.status ?? String(res.status),
          version,
          waitedMs: Date.now() - started,
        });
      }
      last = healthy
        ? `healthy but version ${version ?? '(none reported)'}, expected ${input.expectedVersion}`
        : `HTTP ${res.status} ${body.status ?? ''}${body.reason ? ` (${body.reason})` : ''}`.trim();
    } catch (err) {
      last = `no answer: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) {
      throw new Error(`health check ${input.url} failed after ${input.timeoutSeconds} s: ${last}`);
    }
    await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
  }
}

export interface McpCheckInput {
  transport: 'http' | 'stdio';
  url?: string;
  command?: string[];
  cwd?: string;
  expectedTools?: number;
  toolNames?: string[];
  probe?: { tool: string; arguments: Record<string, unknown> };
}

/** Talks to the MCP server with the official client: lists its tools and calls one. */
export async function checkMcp(
  input: McpCheckInput,
): Promise<StepResult<{ tools: number; serverVersion: string | null; probe: string | null }>> {
  let transport: Transport;
  let where: string;
  if (input.transport === 'http') {
    if (!input.url) throw new Error('MCP HTTP check needs a url');
    transport = new StreamableHTTPClientTransport(new URL(input.url));
    where = input.url;
  } else {
    const [command, ...args] = input.command ?? [];
    if (!command) throw new Error('MCP stdio check needs a command');
    const resolved =
      input.cwd && !isAbsolute(command) && command.includes('/') ? join(input.cwd, command) : command;
    transport = new StdioClientTransport({ command: resolved, args, cwd: input.cwd, stderr: 'pipe' });
    where = `stdio: ${[command, ...args].join(' ')}`;
  }
  const client = new Client({ name: 'rollback-orchestrator', version: '0.1.0' });
  try {
    await client.connect(transport);
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    const problems: string[] = [];
    if (input.expectedTools !== undefined && names.length !== input.expectedTools) {
      problems.push(`expected ${input.expectedTools} tools, found ${names.length}`);
    }
    if (input.toolNames) {
      const missing = input.toolNames.filter((n) => !names.includes(n));
      const unexpected = names.filter((n) => !input.toolNames!.includes(n));
      if (missing.length) problems.push(`missing tools: ${missing.join(', ')}`);
      if (unexpected.length) problems.push(`unexpected tools: ${unexpected.join(', ')}`);
    }
    if (problems.length) throw new Error(`MCP check (${where}): ${problems.join('; ')}`);
    let probe: string | null = null;
    if (input.probe) {
      const result = await client.callTool({ name: input.probe.tool, arguments: input.probe.arguments });
      if (result.isError) {
        throw new Error(
          `MCP check (${where}): probe call ${input.probe.tool} returned an error: ${JSON.stringify(result.content).slice(0, 300)}`,
        );
      }
      probe = input.probe.tool;
    }
    const serverVersion = client.getServerVersion()?.version ?? null;
    return done(
      `${names.length} tools over ${input.transport}${probe ? `, probe ${probe} ok` : ''}${serverVersion ? `, server ${serverVersion}` : ''}`,
      {
        tools: names.length,
        serverVersion,
        probe,
      },
    );
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(message.startsWith('MCP check') ? message : `MCP check (${where}) failed: ${message}`, {
      cause: err,
    });
  } finally {
    await client.close().catch(() => undefined);
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, idx)]!;
}

/** Sends N real requests one after another and judges average (and p95) against budgets. */
export async function checkLatency(input: {
  url: string;
  samples: number;
  maxAverageMs: number;
  maxP95Ms?: number;
}): Promise<StepResult<{ averageMs: number; p95Ms: number; maxMs: number; samples: number }>> {
  const times: number[] = [];
  for (let i = 0; i < input.samples; i++) {
    const t0 = performance.now();
    const res = await fetch(input.url, { signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    times.push(performance.now() - t0);
    heartbeat(i);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  const averageMs = round(times.reduce((a, b) => a + b, 0) / times.length);
  const p95Ms = round(percentile(sorted, 95));
  const maxMs = round(sorted[sorted.length - 1]!);
  const line = `average ${averageMs} ms, p95 ${p95Ms} ms, max ${maxMs} ms over ${times.length} requests`;
  if (averageMs > input.maxAverageMs)
    throw new Error(`latency over budget: ${line} (average budget ${input.maxAverageMs} ms)`);
  if (input.maxP95Ms !== undefined && p95Ms > input.maxP95Ms) {
    throw new Error(`latency over budget: ${line} (p95 budget ${input.maxP95Ms} ms)`);
  }
  return done(line, { averageMs, p95Ms, maxMs, samples: times.length });
}
