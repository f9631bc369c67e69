/**
 * `npm run bench`: a simulated fleet (BENCH_FLEET targets, default 1,000) rolled back as one group
 * on one worker: waves [1, 10%, 100%], maxParallel 50, batches of 50 (the default; each batch a child workflow
 * starting its targets' rollbacks). The steps are fast fakes; the workflows, the worker and the
 * server are real (a dev server kept in memory: what is measured is the orchestration). Reports
 * whether every target finished, the wall time, and how big the histories grew: the group's, the
 * largest batch's and a target's (events and bytes), against Temporal's limits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { prepareGroup } from '../src/cli/planning';
import type { RollbackRecord } from '../src/model';
import { startDevServer } from '../src/temporal/dev-server';
import { writeFleetConfig } from './fleet-config';
import { startBenchWorker } from './worker-stack';

const FLEET = Number(process.env.BENCH_FLEET ?? 1000);

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const root = mkdtempSync(join(tmpdir(), 'rb-bench-fleet-'));
  const config = writeFleetConfig(root, FLEET, {
    fleet: {
      targets: FLEET,
      waves: [1, '10%', '100%'],
      maxParallel: 50,
      failureThreshold: 5,
    },
  });
  const server = await startDevServer({ headless: true });
  const taskQueue = 'bench-fleet';
  const { client, stop } = await startBenchWorker(server.address, taskQueue, { fakes: true });
  try {
    const planned = performance.now();
    const { input } = prepareGroup({ config, address: server.address }, 'emergency', {
      reason: 'bench',
      requestedBy: 'bench',
      group: 'fleet',
    });
    const planMs = performance.now() - planned;
    const inputBytes = Buffer.byteLength(JSON.stringify(input));
    const t0 = performance.now();
    const started = await client.startGroup(input);
    const progress = setInterval(() => {
      void client
        .progress(started.workflowId)
        .then((r) => {
          const done = r.steps.filter((s) => s.state === 'succeeded' || s.state === 'failed').length;
          process.stderr.write(
            `  ${done}/${FLEET} targets done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
          );
        })
        .catch(() => undefined);
    }, 15_000);
    const result = await client.result(started.workflowId, started.runId);
    clearInterval(progress);
    const wallMs = performance.now() - t0;
    const record = result.record as RollbackRecord;
    const succeeded = record.steps.filter((s) => s.state === 'succeeded').length;

    // A fleet's histories can pass gRPC's default 4 MB message: read them on a connection of their own.
    const reader = await Connection.connect({
      address: server.address,
      channelArgs: { 'grpc.max_receive_message_length': 256 * 2 ** 20 },
    });
    const readerClient = new Client({ connection: reader });
    const heaviest: Record<string, number> = {};
    const size = async (workflowId: string) => {
      const history = await readerClient.workflow.getHandle(workflowId).fetchHistory();
      if (workflowId === started.workflowId) {
        for (const e of history.events ?? []) {
          const type = temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? '?';
          const bytes = temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
          heaviest[type] = (heaviest[type] ?? 0) + bytes;
        }
      }
      return {
        events: history.events?.length ?? 0,
        bytes: temporal.api.history.v1.History.encode(history).finish().length,
      };
    };
    const group = await size(started.workflowId);
    const batchIds: string[] = [];
    for await (const w of client.client.workflow.list({
      query: `WorkflowType = 'groupBatchWorkflow' AND WorkflowId STARTS_WITH '${started.workflowId}-batch-'`,
    }))
      batchIds.push(w.workflowId);
    const batches = await Promise.all(batchIds.map(size));
    const largest = batches.reduce((a, b) => (b.events > a.events ? b : a), { events: 0, bytes: 0 });
    const member = await size('rollback-fleet-1');
    await reader.close();
    process.stderr.write(
      `  the group history's bytes by event type: ${Object.entries(heaviest)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([t, b]) => `${t.replace('EVENT_TYPE_', '')} ${(b / 1024).toFixed(0)} KB`)
        .join(', ')}\n`,
    );
    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    const kb = (b: number) => `${(b / 1024).toFixed(0)} KB`;
    console.log(
      [
        '',
        `Simulated fleet of ${FLEET} targets, one group (fake steps, real server in memory and one worker)`,
        row(['measure', 'value', 'goal']),
        row(['---', '---', '---']),
        row([
          'targets rolled back',
          `${succeeded}/${FLEET} (${result.ok ? 'group succeeded' : `group ${record.status}`})`,
          'all',
        ]),
        row(['wall time, start to finish', `${(wallMs / 1000).toFixed(0)} s`, '']),
        row(['planning every target in the CLI', `${planMs.toFixed(0)} ms`, '']),
        row(["the group workflow's input", kb(inputBytes), "< 2 MB (a payload's limit)"]),
        row(['group history', `${group.events} events, ${kb(group.bytes)}`, '< 10,000 events']),
        row([
          `largest of ${batches.length} batch histories`,
          `${largest.events} events, ${kb(largest.bytes)}`,
          '< 10,000 events',
        ]),
        row(["one target's rollback history", `${member.events} events, ${kb(member.bytes)}`, '']),
      ].join('\n'),
    );
  } finally {
    await stop();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
