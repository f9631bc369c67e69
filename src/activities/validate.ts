import { isAbsolute, join } from 'node:path/posix';
import { performance } from 'node:perf_hooks';
import { setTimeout as wait } from 'node:timers/promises';
import { CancelledFailure } from '@temporalio/common';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { HostSpec } from '../model';
import { LOCAL_HOST } from '../runner/local-host';
import type { Host } from '../runner/types';
import { cancellationSignal, done, heartbeat, permanent, retryable, type StepResult } from './common';
import type { ActivityDeps } from './deps';
import { probeHealth, sameVersion } from './health-probe';
import { envFileSecrets, redact } from './redact';

/**
 * Where a check runs is the plan's business (`from: host` puts it on the target's host); the
 * activity takes the host it is given. From a host reached over SSH, HTTP goes through the
 * connection and the stdio server starts there.
 */
export type CheckFrom = 'orchestrator' | 'host';

/**
 * Polls the health endpoint until it reports healthy (and the expected version) or the deadline
 * passes. No fixed sleep: a service that comes up in 300 ms is validated in 300 ms (every 100 ms
 * for the first 5 s, then every 500 ms). The first check runs beside the start's watch, so it may
 * begin before the service is up, and it stops when the rollback cancels it (the start failed).
 */
export async function checkHealth(
  input: {
    url: string;
    expectedVersion?: string;
    timeoutSeconds: number;
    from?: CheckFrom;
  },
  host: Host = LOCAL_HOST,
): Promise<StepResult<{ status: string; version: string | null; waitedMs: number }>> {
  const started = Date.now();
  const deadline = started + input.timeoutSeconds * 1000;
  let last = 'no answer yet';
  const cancelled = cancellationSignal();
  for (;;) {
    heartbeat(last);
    if (cancelled?.aborted) throw new CancelledFailure(`health check ${input.url} stopped: ${last}`);
    const timeout = AbortSignal.timeout(5000);
    const probe = await probeHealth(input, host, cancelled ? AbortSignal.any([cancelled, timeout]) : timeout);
    if (probe.healthy) {
      const { status, version } = probe;
      return done(
        `healthy${version ? `, version ${version}` : ''} after ${Date.now() - started} ms${fromHost(host)}`,
        { status, version, waitedMs: Date.now() - started },
      );
    }
    last = probe.why;
    if (Date.now() >= deadline) {
      throw retryable(
        `health check ${input.url}${fromHost(host)} failed after ${input.timeoutSeconds} s: ${last}`,
        'HealthCheckFailed',
      );
    }
    const every = Date.now() - started < 5000 ? 100 : 500;
    // A cancellation ends the wait early (it rejects); the loop's top then throws CancelledFailure.
    await wait(Math.min(every, Math.max(0, deadline - Date.now())), undefined, { signal: cancelled }).catch(
      () => undefined,
    );
  }
}

/** What a probe's result must look like; judged on the first text content of the result. */
export interface McpProbeExpectation {
  /** The text parses as JSON (implied by `keys`). */
  json?: boolean;
  /** Top-level keys the parsed JSON object must have, e.g. ['projects']. */
  keys?: string[];
  /** A substring the text must contain. */
  textIncludes?: string;
}

export interface McpProbe {
  tool: string;
  arguments?: Record<string, unknown>;
  expect?: McpProbeExpectation;
}

export interface McpCheckInput {
  transport: 'http' | 'stdio';
  /** http: where the request starts (stdio always starts the server on the target's host). */
  from?: CheckFrom;
  url?: string;
  /** stdio: argv of the server; a relative program path resolves in `cwd`. */
  command?: string[];
  cwd?: string;
  /** Env files (relative to `cwd`) whose values are masked in failure messages; default ['.env']. */
  redactEnvFiles?: string[];
  /**
   * stdio: non-secret variables added to the minimal environment the MCP SDK gives a server
   * (HOME, PATH, USER...). They travel through workflow history: secrets belong in the server's .env.
   */
  env?: Record<string, string>;
  expectedTools?: number;
  toolNames?: string[];
  /** One probe (the original config field); `probes` adds more. */
  probe?: McpProbe;
  probes?: McpProbe[];
  /** The version the server reports in its initialize answer (`v1.11.4` and `1.11.4` match). */
  expectedVersion?: string;
  /** Per MCP request (connect, tools/list, each tools/call); default 30. */
  timeoutSeconds?: number;
}

export interface McpCheckData extends Record<string, unknown> {
  transport: 'http' | 'stdio';
  tools: number;
  toolNames: string[];
  serverName: string | null;
  serverVersion: string | null;
  /** The first probe's tool, kept for readers of the original result shape. */
  probe: string | null;
  probes: { tool: string; ok: boolean }[];
}

/** Compares the offered tools with the expected count and names; one line per problem. */
export function diffTools(names: string[], expectedCount?: number, expectedNames?: string[]): string[] {
  const problems: string[] = [];
  if (expectedCount !== undefined && names.length !== expectedCount) {
    problems.push(
      `expected ${expectedCount} tools, found ${names.length}${expectedNames ? '' : ` (${[...names].sort().join(', ') || 'none'})`}`,
    );
  }
  if (expectedNames) {
    const missing = expectedNames.filter((n) => !names.includes(n));
    const unexpected = names.filter((n) => !expectedNames.includes(n));
    if (missing.length) problems.push(`missing tools (${missing.length}): ${missing.join(', ')}`);
    if (unexpected.length) problems.push(`unexpected tools (${unexpected.length}): ${unexpected.join(', ')}`);
  }
  return problems;
}

interface ToolResultLike {
  isError?: boolean;
  content?: unknown;
}

function firstText(result: ToolResultLike): string | undefined {
  const content = Array.isArray(result.content)
    ? (result.content as { type?: string; text?: unknown }[])
    : [];
  const item = content.find((c) => c.type === 'text' && typeof c.text === 'string');
  return item?.text as string | undefined;
}

const clip = (text: string, n = 200) => (text.length > n ? `${text.slice(0, n)}…` : text);

/** Judges one probe's result against its expectation; returns the problem, or null when it is fine. */
export function judgeProbe(probe: McpProbe, result: ToolResultLike): string | null {
  const text = firstText(result);
  if (result.isError) {
    return `probe ${probe.tool} returned an error: ${clip(text ?? JSON.stringify(result.content ?? null))}`;
  }
  const expect = probe.expect;
  if (!expect) return null;
  if (text === undefined) return `probe ${probe.tool}: the result has no text content to check`;
  if (expect.textIncludes !== undefined && !text.includes(expect.textIncludes)) {
    return `probe ${probe.tool}: the text does not contain ${JSON.stringify(expect.textIncludes)}: ${clip(text)}`;
  }
  if (expect.json || expect.keys) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return `probe ${probe.tool}: the text is not JSON: ${clip(text)}`;
    }
    if (expect.keys) {
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        return `probe ${probe.tool}: expected a JSON object with keys ${expect.keys.join(', ')}, got ${clip(text)}`;
      }
      const has = Object.keys(parsed);
      const lacking = expect.keys.filter((k) => !has.includes(k));
      if (lacking.length) {
        return `probe ${probe.tool}: the result lacks key${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')} (has: ${has.join(', ') || 'none'})`;
      }
    }
  }
  return null;
}

/** The message of an error and of its causes: fetch hides ECONNREFUSED in `cause`. */
function describeCause(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 4; i++) {
    const x = e as { message?: string; code?: unknown };
    const part = `${x.message ?? String(e)}${typeof x.code === 'string' && !String(x.message).includes(x.code) ? ` (${x.code})` : ''}`;
    if (!parts.includes(part)) parts.push(part);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(': ');
}

/** The last lines of a stream, bounded, so a chatty server cannot grow the message without limit. */
class TailBuffer {
  private text = '';
  constructor(private readonly max = 4000) {}
  push(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-this.max);
  }
  lines(n = 10): string {
    return this.text.trimEnd().split('\n').slice(-n).join('\n');
  }
}

/* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, typed as the import */
/** The MCP SDK, loaded on the first MCP check (CommonJS, like the rest of the worker). */
const mcpSdk = {
  client: () =>
    require('@modelcontextprotocol/sdk/client/index.js') as typeof import('@modelcontextprotocol/sdk/client/index.js'),
  http: () =>
    require('@modelcontextprotocol/sdk/client/streamableHttp.js') as typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
  stdio: () => require('./mcp-transport') as typeof import('./mcp-transport'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * Talks to the MCP server with the official client over Streamable HTTP or stdio: checks the
 * tools it lists (count and names), calls each probe and judges the result's shape, and checks
 * the version it reports. Every problem found is named in one failure message. The MCP SDK is
 * loaded on the first check (about 14 MB of heap a worker with no MCP checks does not carry).
 */
export async function checkMcp(
  input: McpCheckInput,
  host: Host = LOCAL_HOST,
): Promise<StepResult<McpCheckData>> {
  let transport: Transport;
  let where: string;
  let stderr: TailBuffer | undefined;
  let secrets: string[] = [];
  if (input.transport === 'http') {
    if (!input.url) throw permanent('MCP HTTP check needs a url (validate.mcp.url)', 'BadInput');
    const { StreamableHTTPClientTransport } = mcpSdk.http();
    transport = new StreamableHTTPClientTransport(new URL(input.url), { fetch: host.fetch });
    where = `${input.url}${fromHost(host)}`;
  } else {
    const [command, ...args] = input.command ?? [];
    if (!command) throw permanent('MCP stdio check needs a command (validate.mcpStdio.command)', 'BadInput');
    const resolved =
      input.cwd && !isAbsolute(command) && command.includes('/') ? join(input.cwd, command) : command;
    const tail = new TailBuffer();
    stderr = tail;
    const { HostProcessTransport } = mcpSdk.stdio();
    transport = new HostProcessTransport(
      () => host.spawn([resolved, ...args], { cwd: input.cwd, env: input.env }),
      (d) => tail.push(d),
    );
    where = `stdio: ${[command, ...args].join(' ')}${fromHost(host)}`;
  }
  // A failure message (the server's stderr, a probe's output) may end up in history: mask the
  // values of the host's env files, the one place we know secrets live. Both transports.
  if (input.cwd)
    secrets = await envFileSecrets(
      (input.redactEnvFiles ?? ['.env']).map((f) => join(input.cwd!, f)),
      host.files,
    );
  const timeout = (input.timeoutSeconds ?? 30) * 1000;
  const { Client } = mcpSdk.client();
  const client = new Client({ name: 'rollback-orchestrator', version: '0.1.0' });
  const probes = [...(input.probe ? [input.probe] : []), ...(input.probes ?? [])];
  const stage = { now: 'connect' };
  try {
    heartbeat('connect');
    await client.connect(transport, { timeout });
    stage.now = 'tools/list';
    heartbeat('tools/list');
    const { tools } = await client.listTools(undefined, { timeout });
    const names = tools.map((t) => t.name);
    const server = client.getServerVersion();
    const problems = diffTools(names, input.expectedTools, input.toolNames);
    if (input.expectedVersion !== undefined) {
      if (!server?.version) problems.push(`the server reports no version, expected ${input.expectedVersion}`);
      else if (!sameVersion(server.version, input.expectedVersion))
        problems.push(`the server reports version ${server.version}, expected ${input.expectedVersion}`);
    }
    const probeResults: { tool: string; ok: boolean }[] = [];
    for (const probe of probes) {
      if (!names.includes(probe.tool)) {
        problems.push(`probe ${probe.tool}: the server does not offer this tool`);
        probeResults.push({ tool: probe.tool, ok: false });
        continue;
      }
      stage.now = `tools/call ${probe.tool}`;
      heartbeat(stage.now);
      let problem: string | null;
      try {
        const result = await client.callTool(
          { name: probe.tool, arguments: probe.arguments ?? {} },
          undefined,
          { timeout },
        );
        problem = judgeProbe(probe, result as ToolResultLike);
      } catch (err) {
        problem = `probe ${probe.tool} failed: ${describeCause(err)}`;
      }
      if (problem) problems.push(problem);
      probeResults.push({ tool: probe.tool, ok: !problem });
    }
    if (problems.length) throw new McpCheckFailed(`MCP check (${where}): ${problems.join('; ')}`);
    const okProbes = probeResults.map((p) => p.tool);
    const parts = [`${names.length} tools over ${input.transport}${fromHost(host)}`];
    if (okProbes.length) parts.push(`probe${okProbes.length > 1 ? 's' : ''} ok: ${okProbes.join(', ')}`);
    if (server?.version) parts.push(`server ${[server.name, server.version].filter(Boolean).join(' ')}`);
    return done(parts.join(', '), {
      transport: input.transport,
      tools: names.length,
      toolNames: names,
      serverName: server?.name ?? null,
      serverVersion: server?.version ?? null,
      probe: probes[0]?.tool ?? null,
      probes: probeResults,
    });
  } catch (err) {
    if (err instanceof McpCheckFailed) throw new McpCheckFailed(redact(err.message, secrets));
    const cause = describeCause(err);
    let message: string;
    if (stage.now === 'connect' && input.transport === 'stdio') {
      const tail = stderr?.lines() ?? '';
      message = `MCP check (${where}) failed: the server did not start or did not answer initialize (${cause})${
        tail ? `; its stderr ends with:\n${redact(tail, secrets)}` : '; it wrote nothing to stderr'
      }`;
    } else if (stage.now === 'connect') {
      message = `MCP check (${where}) failed: cannot connect to the server: ${cause}`;
    } else {
      message = `MCP check (${where}) failed during ${stage.now}: ${cause}`;
    }
    throw retryable(redact(message, secrets), 'McpCheckFailed');
  } finally {
    await client.close().catch(() => undefined);
  }
}

class McpCheckFailed extends Error {
  override name = 'McpCheckFailed';
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, idx)]!;
}

/** Sends N real requests one after another and judges average (and p95) against budgets. */
export async function checkLatency(
  input: {
    url: string;
    samples: number;
    maxAverageMs: number;
    maxP95Ms?: number;
    from?: CheckFrom;
  },
  host: Host = LOCAL_HOST,
): Promise<StepResult<{ averageMs: number; p95Ms: number; maxMs: number; samples: number }>> {
  const times: number[] = [];
  for (let i = 0; i < input.samples; i++) {
    const t0 = performance.now();
    const res = await host.fetch(input.url, { signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    times.push(performance.now() - t0);
    heartbeat(i);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  const averageMs = round(times.reduce((a, b) => a + b, 0) / times.length);
  const p95Ms = round(percentile(sorted, 95));
  const maxMs = round(sorted[sorted.length - 1]!);
  const line = `average ${averageMs} ms, p95 ${p95Ms} ms, max ${maxMs} ms over ${times.length} requests${fromHost(host)}`;
  if (averageMs > input.maxAverageMs)
    throw retryable(
      `latency over budget: ${line} (average budget ${input.maxAverageMs} ms)`,
      'LatencyOverBudget',
    );
  if (input.maxP95Ms !== undefined && p95Ms > input.maxP95Ms) {
    throw retryable(`latency over budget: ${line} (p95 budget ${input.maxP95Ms} ms)`, 'LatencyOverBudget');
  }
  return done(line, { averageMs, p95Ms, maxMs, samples: times.length });
}

/** ` from deploy@10.0.0.5:22` when a check ran on a host reached over SSH; nothing otherwise. */
function fromHost(host: Host): string {
  return host.local ? '' : ` from ${host.label}`;
}

/** The checks as activities: on the orchestrator's machine, or on the target's host when the plan says so. */
export function validateActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    checkHealth: (input: Parameters<typeof checkHealth>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => checkHealth(input, host)),
    checkMcp: (input: McpCheckInput, on?: HostSpec) => deps.onHost(on, (host) => checkMcp(input, host)),
    checkLatency: (input: Parameters<typeof checkLatency>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => checkLatency(input, host)),
  };
}
