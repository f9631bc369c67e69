import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { RollbackClient } from '../../src/client';
import { getTarget, loadConfig } from '../../src/targets/load';
import { freshFetch } from '../../src/runner/local-host';
import type { RollbackRecord, RollbackRequest } from '../../src/model';
import { planRollback } from '../../src/targets/plan';
import { eventually } from './eventually';
import type { Sandbox } from './sandbox';

export const ROOT = join(__dirname, '..', '..');

export function requestFor(sb: Sandbox, overrides: Partial<RollbackRequest> = {}): RollbackRequest {
  return {
    rollbackId: `${sb.target}-${Date.now()}`,
    target: sb.target,
    kind: 'emergency',
    reason: 'v1.20.2 is failing health checks',
    impact: 'MCP tools unavailable to analysts',
    requestedBy: 'alice',
    requestedAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Plans from the sandbox's real rollback.yaml and starts through the typed client. */
export async function startRollback(
  client: RollbackClient,
  sb: Sandbox,
  overrides: Partial<RollbackRequest> = {},
) {
  const request = requestFor(sb, overrides);
  const loaded = loadConfig(sb.configFile);
  const plan = planRollback(getTarget(loaded, sb.target), request, loaded.config);
  const started = await client.start(request, plan);
  return { request, plan, ...started };
}

/** Independent of the product's own checks: the official MCP client, straight at the service. */
export async function listToolsHttp(port: number): Promise<string[]> {
  const client = new Client({ name: 'test', version: '0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { fetch: freshFetch }),
  );
  try {
    return (await client.listTools()).tools.map((t) => t.name);
  } finally {
    await client.close();
  }
}

export async function listToolsStdio(cwd: string): Promise<string[]> {
  const client = new Client({ name: 'test', version: '0' });
  await client.connect(
    new StdioClientTransport({ command: 'node', args: ['server.js', '--stdio'], cwd, stderr: 'pipe' }),
  );
  try {
    return (await client.listTools()).tools.map((t) => t.name);
  } finally {
    await client.close();
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `rollback` command (the build in dist/ when it is fresh, else the sources). `env` adds
 * to this process's environment; a variable set to undefined is removed. `nodeArgs` go to node itself.
 */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  nodeArgs: string[] = [],
): Promise<CliResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'rollback.js'), ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Polls the progress query until the rollback reaches `status` (or fails the test after a while). */
export async function waitForStatus(
  client: RollbackClient,
  workflowId: string,
  status: string,
  timeoutMs = 90_000,
  runId?: string,
): Promise<RollbackRecord> {
  // Before a worker picks the workflow up the query fails: that is "not yet".
  return eventually(
    `${workflowId} to reach status ${status}`,
    async () => {
      const record = await client.progress(workflowId, runId);
      if (record.status !== status) throw new Error(`status ${record.status}`);
      return record;
    },
    timeoutMs,
  );
}

/** A local HTTP server that records every POST: the notification channels' far end. */
export async function startReceiver(): Promise<{ url: string; bodies: any[]; close: () => Promise<void> }> {
  const { createServer } = await import('node:http');
  const bodies: any[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      try {
        bodies.push({ path: req.url, body: JSON.parse(data) });
      } catch {
        bodies.push({ path: req.url, raw: data });
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
