import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RollbackClient } from '../src/client';
import { ConfigError, getTarget, loadConfig } from '../src/targets/load';
import { runCli, type CliResult } from './rig/rollback';
import { connectClient, testTaskQueue } from './rig/temporal';

/**
 * A config the run would trip on is refused by `config check`, `plan` and `start` alike: exit 2,
 * a message naming the field (or file and line) and the fix, no workflow and no file written.
 * Every case runs the real CLI against a config file written here and the real Temporal server.
 */
const root = mkdtempSync(join(tmpdir(), 'rb-config-'));
const taskQueue = testTaskQueue('config');
let client: RollbackClient;
const fifos: string[] = [];

const deployPath = join(root, 'srv');
mkdirSync(deployPath);
spawnSync('git', ['init', '-q', deployPath]);

type Target = Record<string, any>;

function gitTarget(name: string): Target {
  return {
    deploy: { type: 'git', path: deployPath, stableVersion: 'v1.11.4' },
    service: { manager: 'command', start: ['true'], stop: ['true'], status: ['true'] },
    backupDir: join(root, name, 'backups'),
    reportsDir: join(root, name, 'reports'),
    validate: { health: { url: 'http://127.0.0.1:9/health' } },
  };
}

function ecsTarget(name: string): Target {
  return {
    deploy: {
      type: 'ecs',
      cluster: 'prod',
      service: name,
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9',
      git: { path: deployPath },
      build: { command: ['./build-and-push.sh'] },
    },
    reportsDir: join(root, name, 'reports'),
  };
}

function writeConfig(name: string, body: string | object): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(file, typeof body === 'string' ? body : stringify(body));
  return file;
}

function configWith(name: string, edit: (t: Target) => void, extra: object = {}): string {
  const t = gitTarget(name);
  edit(t);
  return writeConfig(name, { version: 1, ...extra, targets: { [name]: t } });
}

beforeAll(async () => {
  client = await connectClient(taskQueue);
});

afterAll(async () => {
  // Only if a CLI ever opened a FIFO and blocked: a writer that connects and leaves lets it go.
  for (const f of fifos) {
    try {
      closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      /* no reader: nothing was blocked */
    }
  }
  await client.close();
  rmSync(root, { recursive: true, force: true });
});

async function expectNothingStarted(target: string) {
  await expect(client.describe(`rollback-${target}`)).rejects.toThrow(/not found/i);
  expect(existsSync(join(root, target, 'backups'))).toBe(false);
  expect(existsSync(join(root, target, 'reports'))).toBe(false);
}

const COMMANDS = (target: string) => [
  ['config', 'check'],
  ['plan', 'emergency', '--target', target],
  ['start', 'emergency', '--target', target, '--reason', 'test', '--task-queue', taskQueue],
];

/** Asserts exit 2 and the expected text, with the command and its output in any failure. */
function expectRefused(args: string[], r: CliResult, expected: (string | RegExp)[]) {
  const seen = { args, code: r.code, stderr: r.stderr };
  expect(seen).toMatchObject({ code: 2 });
  for (const e of expected) {
    expect(seen).toMatchObject({
      stderr: typeof e === 'string' ? expect.stringContaining(e) : expect.stringMatching(e),
    });
  }
}

/** `config check`, `plan` and `start` all refuse the config, and nothing is started or written. */
async function expectRefusedEverywhere(config: string, target: string, expected: (string | RegExp)[]) {
  for (const args of COMMANDS(target)) {
    const full = ['--config', config, ...args];
    expectRefused(full, await runCli(full), expected);
  }
  await expectNothingStarted(target);
}

describe('URLs the checks would call must be reachable http(s) URLs', () => {
  test.each([
    ['health on port 0', 'health', 'http://127.0.0.1:0/health', 'has port "0": give a port from 1 to 65535'],
    ['a file: URL', 'health', 'file:///etc/passwd', 'uses file:, but checks and notifications speak HTTP'],
    [
      'an unexpanded ${VAR}',
      'health',
      'http://${UNSET}:9511/health',
      'holds "${UNSET}", which nothing expands',
    ],
    ['latency on port 70000', 'latency', 'http://127.0.0.1:70000/health', 'has port "70000"'],
    ['MCP with no host', 'mcp', 'http:///mcp', 'names no host'],
    [
      'MCP with a password',
      'mcp',
      'http://admin:hunter2@127.0.0.1:8080/mcp',
      'holds a user name or password',
    ],
  ])('%s is refused, naming the field', async (label, check, url, message) => {
    const name = `url-${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`.replace(/-+$/, '');
    const config = configWith(name, (t) => {
      t.validate[check] = { url };
    });
    await expectRefusedEverywhere(config, name, [
      config,
      `at targets.${name}.validate.${check}.url: ${message}`,
    ]);
  });

  test("a notification channel's URL on port 0 is refused", async () => {
    const config = configWith('url-channel', () => undefined, {
      notify: { channels: [{ type: 'webhook', url: 'http://127.0.0.1:0/hook' }] },
    });
    await expectRefusedEverywhere(config, 'url-channel', ['at notify.channels.0.url: has port "0"']);
  });

  test('http and https URLs with a host name, an IP or no port pass', async () => {
    const config = configWith('url-fine', (t) => {
      t.validate.health = { url: 'https://billing.internal/health' };
      t.validate.latency = { url: 'http://[::1]:8080/health' };
      t.validate.mcp = { url: 'http://127.0.0.1:65535/mcp' };
    });
    const r = await runCli(['--config', config, 'config', 'check']);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
  });
});

describe('argv lists: no shell lines, and every program resolves on this host', () => {
  test('a shell line as one element is refused, with the split form', async () => {
    const config = configWith('argv-shell', (t) => {
      t.deploy.install = ['npm ci && npm run build'];
      t.service.start = ['systemctl start x'];
    });
    await expectRefusedEverywhere(config, 'argv-shell', [
      'at targets.argv-shell.deploy.install.0: argv lists are not run through a shell; split it',
      '["sh", "-c", "npm ci && npm run build"]',
      'at targets.argv-shell.service.start.0: argv lists are not run through a shell; split it: ["systemctl", "start", "x"]',
    ]);
  });

  test('a program that is not on PATH, a missing relative script and a file that is not executable are refused', async () => {
    writeFileSync(join(deployPath, 'not-executable.sh'), '#!/bin/sh\n');
    const config = configWith('argv-missing', (t) => {
      t.service.start = ['no-such-program-3f9a', 'start'];
      t.deploy.build = ['./build.sh'];
      t.validate.mcpStdio = { command: [join(deployPath, 'not-executable.sh')] };
    });
    await expectRefusedEverywhere(config, 'argv-missing', [
      'target "argv-missing": service.start: program "no-such-program-3f9a" is not on PATH; install it, or give its absolute path',
      `target "argv-missing": deploy.build: program ./build.sh, run from ${deployPath}, does not exist`,
      `validate.mcpStdio.command: program ${join(deployPath, 'not-executable.sh')} is not executable; make it executable (chmod +x)`,
    ]);
  });

  test('a script in the deploy path named without ./ is refused with the ./ form', async () => {
    writeFileSync(join(deployPath, 'ctl.sh'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(deployPath, 'ctl.sh'), 0o755);
    const config = configWith('argv-bare', (t) => {
      t.service.status = ['ctl.sh', 'status'];
    });
    await expectRefusedEverywhere(config, 'argv-bare', [
      `service.status: program "ctl.sh" is not on PATH; install it, or give its absolute path (to run the one in ${deployPath}, write ./ctl.sh)`,
    ]);
    // Written as the runner runs it, the same script passes.
    const fixed = configWith('argv-bare', (t) => {
      t.service.status = ['./ctl.sh', 'status'];
    });
    const r = await runCli(['--config', fixed, 'config', 'check']);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
  });

  test("an ECS target's build command must exist where it runs", async () => {
    const config = writeConfig('ecs-build', { version: 1, targets: { 'ecs-build': ecsTarget('ecs-build') } });
    await expectRefusedEverywhere(config, 'ecs-build', [
      `target "ecs-build": deploy.build.command: program ./build-and-push.sh, run from ${deployPath}, does not exist`,
    ]);
  });
});

describe('config files: only a regular file of at most 1 MiB is read', () => {
  test.each([
    ['a directory', () => deployPath, 'is a directory, not a regular file'],
    [
      'a FIFO',
      () => {
        const f = join(root, 'fifo.yaml');
        spawnSync('mkfifo', [f]);
        fifos.push(f);
        return f;
      },
      'is a FIFO (named pipe), not a regular file',
    ],
    ['/dev/zero', () => '/dev/zero', 'is a character device, not a regular file'],
    [
      'a file over 1 MiB',
      () => writeConfig('huge', `# ${'x'.repeat(1024 * 1024)}\nversion: 1\n`),
      'is 1048590 bytes; a rollback config is at most 1048576 bytes (1 MiB)',
    ],
  ])('%s is refused before it is read', async (_label, make, message) => {
    const file = make();
    for (const args of COMMANDS('svc-file')) {
      const full = ['--config', file, ...args];
      expectRefused(full, await runCli(full), [`config file ${file} ${message}`]);
    }
    // The same file named by ROLLBACK_CONFIG.
    const viaEnv = await runCli(['config', 'check'], { ROLLBACK_CONFIG: file });
    expectRefused(['config', 'check'], viaEnv, [`config file ${file} ${message}`]);
    await expectNothingStarted('svc-file');
  });
});

describe('YAML: aliases that explode and repeated keys name the file and line', () => {
  test('an alias bomb is refused with the line of its first alias', async () => {
    const lines = ['version: 1', 'a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [prev, next] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
      ['d', 'e'],
      ['e', 'f'],
    ]) {
      lines.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const target = stringify({ targets: { 'svc-bomb': gitTarget('svc-bomb') } });
    const config = writeConfig('bomb', `${lines.join('\n')}\n${target}`);
    await expectRefusedEverywhere(config, 'svc-bomb', [
      `${config}: the YAML aliases from line 3, column 8 on expand to too much`,
    ]);
  });

  test('a repeated key is refused with its name and line', async () => {
    const once = stringify({ version: 1, targets: { 'svc-dup': gitTarget('svc-dup') } });
    const twice = once.replace(/^targets:\n/m, `targets:\n  svc-dup:\n    description: first\n`);
    const config = writeConfig('dup', twice);
    await expectRefusedEverywhere(config, 'svc-dup', [
      `${config}: duplicate key "svc-dup" at line 5, column 3`,
    ]);
  });
});

describe('names JavaScript objects already have are never taken for targets, channels or keys', () => {
  test('a __proto__ key is refused with its line, never dropped', async () => {
    const text = `${stringify({ version: 1, targets: { 'svc-proto': gitTarget('svc-proto') } })}  __proto__:\n    description: x\n`;
    const inTargets = writeConfig('proto-target', text);
    const line = text.split('\n').indexOf('  __proto__:') + 1;
    await expectRefusedEverywhere(inTargets, 'svc-proto', [
      `${inTargets}: "__proto__" at line ${line}, column 3 cannot be a key`,
    ]);
    // Deeper down too: a flag the partial rollback would set must not vanish.
    const flags = writeConfig(
      'proto-flag',
      stringify({
        version: 1,
        targets: {
          'svc-proto': {
            ...gitTarget('svc-proto'),
            partial: { flags: { QURATOR: 'false', RANKING: 'off' } },
          },
        },
      }).replace('RANKING: off', '__proto__: off'),
    );
    await expectRefusedEverywhere(flags, 'svc-proto', ['"__proto__" at line', 'cannot be a key']);
  });

  test('targets named constructor or toString are refused in the config', async () => {
    for (const name of ['constructor', 'toString']) {
      const config = writeConfig(`named-${name}`, { version: 1, targets: { [name]: gitTarget(name) } });
      await expectRefusedEverywhere(config, name, [`at targets.${name}: "${name}" is refused`]);
    }
  });

  test('--target __proto__, constructor or toString is refused, never a TypeError', async () => {
    const config = writeConfig('known', { version: 1, targets: { 'svc-known': gitTarget('svc-known') } });
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      for (const args of COMMANDS(name).slice(1)) {
        const full = ['--config', config, ...args];
        const r = await runCli(full);
        // The CLI may refuse the name's form first; a well-formed name is an unknown target.
        expectRefused(full, r, [name === 'constructor' ? `unknown target "${name}"` : name]);
        expect(r.stderr).not.toMatch(/TypeError|is not a function|Cannot read/);
      }
      await expectNothingStarted(name);
      expect(() => getTarget(loadConfig(config), name)).toThrow(
        new ConfigError(`unknown target "${name}" in ${config}; known targets: svc-known`),
      );
    }
    await expectNothingStarted('svc-known');
  });

  test('a channel of type constructor is an unknown channel type', async () => {
    const config = configWith('svc-chan', () => undefined, {
      notify: { channels: [{ type: 'constructor', url: 'https://hooks.example.com/x' }] },
    });
    await expectRefusedEverywhere(config, 'svc-chan', [
      'at notify.channels.0.type: missing or unknown type: set "type" to slack, webhook or statuspage',
    ]);
  });
});

describe("a partial rollback's env file must be inside the deploy path", () => {
  test.each([
    ['a .. path', '../../outside.env'],
    ['an absolute path', '/etc/passwd'],
  ])('%s is refused, naming the field; nothing is written anywhere', async (label, envFile) => {
    const name = `partial-env-${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`.replace(/-+$/, '');
    const config = configWith(name, (t) => {
      t.partial = { envFile, flags: { NEW_UI: 'false' } };
    });
    await expectRefusedEverywhere(config, name, [
      `at targets.${name}.partial.envFile: must be a path inside the deploy path`,
    ]);
    const partial = ['--config', config, 'start', 'partial', '--target', name, '--reason', 'test'];
    expectRefused(partial, await runCli([...partial, '--task-queue', taskQueue]), ['partial.envFile']);
    await expectNothingStarted(name);
  });
});
