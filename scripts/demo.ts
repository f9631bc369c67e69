/**
 * The end-to-end demo: a local Temporal dev server and a worker, the fixture MCP server's bad
 * v1.20.2 deployed from git and running under pm2 in a sandbox folder, then an emergency rollback
 * to v1.11.4 through the real `rollback` CLI with live progress. The Web UI stays up afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { freePort, startDevServer } from '../src/temporal/dev-server';
import { createWorker } from '../src/worker';
import { BAD_TAG, createFixtureRemote, deployWorkingCopy } from '../test/rig/fixture-repo';
import { pm2 } from '../test/rig/sandbox';

const ROOT = resolve(__dirname, '..');
const log = (line: string) => process.stderr.write(`[demo] ${line}\n`);

async function portFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((r) => {
    const s = createServer();
    s.once('error', () => r(false));
    s.listen(port, '127.0.0.1', () => s.close(() => r(true)));
  });
}

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const sandbox = join(ROOT, '.state', 'demo');
  rmSync(sandbox, { recursive: true, force: true });
  mkdirSync(sandbox, { recursive: true });

  const port = (await portFree(7233)) && (await portFree(8233)) ? 7233 : await freePort();
  log('starting the Temporal dev server (SQLite) ...');
  const server = await startDevServer({
    dbFile: join(sandbox, 'temporal.sqlite'),
    port,
    uiPort: port + 1000,
  });
  log(`Temporal server ${server.address}, Web UI ${server.uiUrl}`);
  log('starting a worker (bundles the workflow code) ...');
  const { worker, close } = await createWorker({ address: server.address });
  const running = worker.run();

  log('building the service: a git remote with v1.11.4 (good) and v1.20.2 (bad: unhealthy)');
  const { remote } = await createFixtureRemote({ dir: join(sandbox, 'git'), badMode: 'unhealthy' });
  const deployPath = join(sandbox, 'srv', 'lightdash-mcp');
  mkdirSync(join(sandbox, 'srv'), { recursive: true });
  await deployWorkingCopy({
    remote,
    path: deployPath,
    ref: BAD_TAG,
    env: { LIGHTDASH_API_KEY: 'demo-key-not-a-real-secret' },
  });
  const svcPort = await freePort();
  const pm2Home = join(sandbox, 'pm2');
  pm2(pm2Home, ['start', join(deployPath, 'server.js'), '--name', 'lightdash-mcp', '--cwd', deployPath], {
    PORT: String(svcPort),
  });
  const base = `http://127.0.0.1:${svcPort}`;
  for (let i = 0; i < 50; i++) {
    try {
      const res = await fetch(`${base}/health`);
      log(`deployed v1.20.2 under pm2: GET /health → ${res.status} ${await res.text()}`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const configFile = join(sandbox, 'rollback.yaml');
  writeFileSync(
    configFile,
    stringify({
      version: 1,
      targets: {
        'lightdash-mcp': {
          description: 'lightdash MCP server (demo sandbox)',
          deploy: {
            type: 'git',
            path: deployPath,
            stableVersion: 'v1.11.4',
            install: ['npm', 'ci', '--offline', '--no-audit', '--no-fund'],
          },
          service: {
            manager: 'pm2',
            name: 'lightdash-mcp',
            script: 'server.js',
            env: { PORT: String(svcPort) },
            pm2Home,
          },
          backupDir: join(sandbox, 'backups'),
          reportsDir: join(sandbox, 'reports'),
          validate: {
            health: { url: `${base}/health`, timeoutSeconds: 20 },
            mcp: {
              url: `${base}/mcp`,
              expectedTools: 13,
              probe: { tool: 'lightdash_list_projects', arguments: {} },
            },
            mcpStdio: { command: ['node', 'server.js', '--stdio'], expectedTools: 13 },
            latency: { url: `${base}/health`, samples: 20, maxAverageMs: 2000 },
          },
        },
      },
    }),
  );
  log(`config: ${configFile}`);
  log('$ rollback start emergency --target lightdash-mcp --reason "v1.20.2 fails health checks" --wait');
  const code = await new Promise<number>((r) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin', 'rollback.js'),
        '--config',
        configFile,
        '--address',
        server.address,
        'start',
        'emergency',
        '--target',
        'lightdash-mcp',
        '--reason',
        'v1.20.2 fails health checks',
        '--impact',
        'analysts cannot query Lightdash from their assistants',
        '--wait',
      ],
      { stdio: 'inherit' },
    );
    child.on('close', (c) => r(c ?? 1));
  });
  log(`rollback exited ${code}; reports in ${join(sandbox, 'reports')}`);
  log(`Web UI: ${server.uiUrl}/namespaces/default/workflows/rollback-lightdash-mcp`);

  const stop = async () => {
    log('stopping the worker, the server and the demo service ...');
    if (worker.getState() === 'RUNNING') worker.shutdown(); // Ctrl-C may have started it already
    await running;
    await close();
    await server.stop();
    pm2(pm2Home, ['kill']);
  };
  const keepUp = process.env.DEMO_EXIT === '0' || (process.stdin.isTTY && process.env.DEMO_EXIT !== '1');
  if (!keepUp) {
    if (process.env.DEMO_EXIT !== '1')
      log('not a terminal: stopping now (run it in a terminal to keep the Web UI up)');
    await stop();
  } else {
    log('the Web UI stays up: press Ctrl-C to stop everything (DEMO_EXIT=1 stops at once)');
    await new Promise<void>((r) => {
      process.once('SIGINT', () => r());
      process.once('SIGTERM', () => r());
    });
    await stop();
  }
  process.exit(code);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
