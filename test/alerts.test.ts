import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, createSign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { stringToSign, type SnsMessage } from '../src/alerts/sns';
import type { RollbackClient } from '../src/client';
import { Cleanup } from './rig/cleanup';
import { commandTarget } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities } from './rig/fake-activities';
import { startAlertmanager, type TestAlertmanager } from './rig/prometheus';
import { ROOT } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { stopChild } from './rig/tools';

/**
 * Alerts in: the real `rollback serve` process, a real Alertmanager posting to it with its bearer
 * token, and SNS notifications signed the way SNS signs them, with a certificate served over https
 * by the test (SNS itself cannot reach this machine; `alerts.sns.certHost` points at the test's
 * server, whose self-signed certificate the serve process trusts through NODE_EXTRA_CA_CERTS).
 * Rollback steps are fakes: what starts a rollback is under test.
 */

const taskQueue = testTaskQueue('alerts');
const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-alerts-'));
const TOKEN = `am-${Math.random().toString(36).slice(2)}`;
const HMAC = `hmac-${Math.random().toString(36).slice(2)}`;
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:rollback-alarms';
let client: RollbackClient;
let serveUrl: string;
let alertmanager: TestAlertmanager;
let certUrl: string;
let keyPem: string;
let serveLog = '';

beforeAll(async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  // The SNS signing certificate, also the https server's (self-signed, for 127.0.0.1).
  const key = join(root, 'sns.key');
  const cert = join(root, 'sns.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  keyPem = readFileSync(key, 'utf8');
  const certPem = readFileSync(cert, 'utf8');
  const https: Server = createHttpsServer({ key: keyPem, cert: certPem }, (req, res) => {
    if (req.url === '/SimpleNotificationService-test.pem') res.writeHead(200).end(certPem);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
  cleanup.add('the https server', () => new Promise((r) => https.close(r)));
  const certHost = `127.0.0.1:${(https.address() as AddressInfo).port}`;
  certUrl = `https://${certHost}/SimpleNotificationService-test.pem`;

  const targets: Record<string, unknown> = {};
  for (const name of ['alerts-a', 'alerts-b']) {
    mkdirSync(join(root, name, 'srv'), { recursive: true });
    execFileSync('git', ['init', '-q', join(root, name, 'srv')]);
    targets[name] = commandTarget(name, join(root, name, 'srv'), join(root, name));
  }
  const configFile = join(root, 'rollback.yaml');
  writeFileSync(
    configFile,
    stringify({
      version: 1,
      alerts: {
        tokenEnv: 'ROLLBACK_ALERT_TOKEN',
        hmacSecretEnv: 'ROLLBACK_ALERT_HMAC',
        sns: { topicArns: [TOPIC], certHost },
        routes: [
          {
            labels: { alertname: 'HighErrorRate', service: 'alerts-a' },
            target: 'alerts-a',
            kind: 'emergency',
          },
          { alarm: 'alerts-b-5xx', target: 'alerts-b' },
        ],
      },
      targets,
    }),
  );

  const worker = await startWorker(taskQueue, undefined, createFakeActivities());
  cleanup.add('the worker', () => worker.stop());
  client = await connectClient(taskQueue);
  cleanup.add('the client', () => client.close());

  const serve: ChildProcess = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'rollback.js'),
      '--config',
      configFile,
      'serve',
      '--port',
      '0',
      '--task-queue',
      taskQueue,
    ],
    {
      env: {
        ...process.env,
        ROLLBACK_ALERT_TOKEN: TOKEN,
        ROLLBACK_ALERT_HMAC: HMAC,
        NODE_EXTRA_CA_CERTS: cert,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  serve.stderr!.on('data', (d: Buffer) => (serveLog += d.toString()));
  cleanup.add('rollback serve', () => stopChild(serve, 'SIGTERM'));
  const port = await eventually(
    'rollback serve listens',
    () => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(serveLog)?.[1],
    60_000,
  );
  serveUrl = `http://127.0.0.1:${port}`;
  alertmanager = await startAlertmanager(`${serveUrl}/alerts/alertmanager`, TOKEN);
  cleanup.add('alertmanager', () => alertmanager.stop());
});

afterAll(() => cleanup.run());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${serveUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

test('an alert Alertmanager sends starts the rollback its route names, with the alert as evidence; the same alert again starts nothing', async () => {
  await alertmanager.fire([
    {
      labels: { alertname: 'HighErrorRate', service: 'alerts-a', severity: 'page' },
      annotations: { summary: 'error rate 23% over 10 minutes' },
    },
  ]);
  const rollback = await eventually(
    'a rollback of alerts-a',
    async () => (await client.list({ target: 'alerts-a' }))[0],
    30_000,
    200,
  );
  const result = await client.result(rollback.workflowId, rollback.runId);
  expect(result.record).toMatchObject({
    status: 'succeeded',
    kind: 'emergency',
    requestedBy: 'alert:HighErrorRate',
    reason: 'alert HighErrorRate: error rate 23% over 10 minutes',
    trigger: { type: 'automatic', rule: 'HighErrorRate' },
  });
  expect(result.record!.trigger!.evidence).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^labels: .*alertname=HighErrorRate/),
      'summary: error rate 23% over 10 minutes',
    ]),
  );
  expect(serveLog).toContain('Alertmanager HighErrorRate → alerts-a: started');

  // The same alert delivered again (a retry, a restart of Alertmanager): acknowledged, nothing started.
  const again = await post(
    '/alerts/alertmanager',
    {
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'HighErrorRate', service: 'alerts-a' },
          startsAt: '2026-11-23T00:00:00Z',
          fingerprint: 'f1',
        },
      ],
    },
    { authorization: `Bearer ${TOKEN}` },
  );
  expect(again.status).toBe(200);
  expect(((await again.json()) as { results: unknown[] }).results).toEqual([
    expect.objectContaining({ outcome: 'duplicate', target: 'alerts-a' }),
  ]);
  expect(await client.list({ target: 'alerts-a' })).toHaveLength(1);
});

test('without the token, with a wrong token or a bad HMAC: 401 and nothing started; a good HMAC is taken', async () => {
  const payload = JSON.stringify({
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'HighErrorRate', service: 'alerts-a' },
        startsAt: '2026-11-23T01:00:00Z',
        fingerprint: 'f2',
      },
    ],
  });
  const before = (await client.list({ target: 'alerts-a' })).length;
  const attempts: Record<string, string>[] = [
    {},
    { authorization: 'Bearer not-the-token' },
    {
      'x-rollback-signature': `sha256=${createHmac('sha256', 'wrong-secret').update(payload).digest('hex')}`,
    },
    { 'x-rollback-signature': `sha256=${createHmac('sha256', HMAC).update(`${payload} `).digest('hex')}` },
  ];
  for (const headers of attempts) {
    const res = await post('/alerts/alertmanager', payload, headers);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toMatch(/^not authorized/);
  }
  expect(await client.list({ target: 'alerts-a' })).toHaveLength(before);

  // Signed right, for an alert no route maps: taken, and said so.
  const unmatched = JSON.stringify({
    alerts: [{ status: 'firing', labels: { alertname: 'DiskFull' }, fingerprint: 'f3' }],
  });
  const ok = await post('/alerts/alertmanager', unmatched, {
    'x-rollback-signature': `sha256=${createHmac('sha256', HMAC).update(unmatched).digest('hex')}`,
  });
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as { results: unknown[] }).results).toEqual([
    expect.objectContaining({ alert: 'DiskFull', outcome: 'unmatched' }),
  ]);
  expect(serveLog).not.toContain(TOKEN);
  expect(serveLog).not.toContain(HMAC);
});

function snsMessage(alarm: Record<string, unknown>, overrides: Partial<SnsMessage> = {}): SnsMessage {
  const m: SnsMessage = {
    Type: 'Notification',
    MessageId: `m-${Math.random().toString(36).slice(2)}`,
    TopicArn: TOPIC,
    Subject: 'ALARM: "alerts-b-5xx" in EU (Ireland)',
    Message: JSON.stringify(alarm),
    Timestamp: new Date().toISOString(),
    SignatureVersion: '2',
    Signature: '',
    SigningCertURL: certUrl,
    ...overrides,
  };
  m.Signature = createSign('RSA-SHA256').update(stringToSign(m)).sign(keyPem, 'base64');
  return m;
}

const ALARM = {
  AlarmName: 'alerts-b-5xx',
  NewStateValue: 'ALARM',
  NewStateReason: 'Threshold Crossed: 3 datapoints were greater than the threshold (10.0)',
  StateChangeTime: '2026-11-23T02:00:00.000+0000',
  Region: 'EU (Ireland)',
};

test('SNS: a bad signature, a certificate from another host or a topic not listed is refused (403) and starts nothing; a signed CloudWatch alarm starts the rollback', async () => {
  const tampered = snsMessage(ALARM);
  tampered.Message = JSON.stringify({ ...ALARM, AlarmName: 'alerts-b-5xx ' });
  const foreign = snsMessage(ALARM, {
    SigningCertURL: 'https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem',
  });
  const plainHttp = snsMessage(ALARM, { SigningCertURL: certUrl.replace('https:', 'http:') });
  const otherTopic = snsMessage(ALARM, { TopicArn: 'arn:aws:sns:eu-west-1:123456789012:someone-else' });
  const expected: [SnsMessage, RegExp][] = [
    [tampered, /signature does not verify/],
    [foreign, /is not SNS's own/],
    [plainHttp, /is not SNS's own/],
    [otherTopic, /not in alerts\.sns\.topicArns/],
  ];
  for (const [m, error] of expected) {
    const res = await post('/alerts/sns', m);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(error);
  }
  expect(await client.list({ target: 'alerts-b' })).toEqual([]);

  const ok = await post('/alerts/sns', snsMessage(ALARM));
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as { results: unknown[] }).results).toEqual([
    expect.objectContaining({ outcome: 'started', target: 'alerts-b' }),
  ]);
  const rollback = await eventually(
    'a rollback of alerts-b',
    async () => (await client.list({ target: 'alerts-b' }))[0],
  );
  const result = await client.result(rollback.workflowId, rollback.runId);
  expect(result.record).toMatchObject({ status: 'succeeded', requestedBy: 'alert:alerts-b-5xx' });
  expect(result.record!.trigger!.evidence[0]).toBe(
    'alarm alerts-b-5xx in ALARM since 2026-11-23T02:00:00.000+0000 (EU (Ireland))',
  );

  // The OK that follows, and the same ALARM delivered twice, start nothing more.
  const okState = await post('/alerts/sns', snsMessage({ ...ALARM, NewStateValue: 'OK' }));
  expect(((await okState.json()) as { results: unknown[] }).results).toEqual([
    expect.objectContaining({ outcome: 'ignored', detail: 'state OK' }),
  ]);
  const twice = await post('/alerts/sns', snsMessage(ALARM));
  expect(((await twice.json()) as { results: unknown[] }).results).toEqual([
    expect.objectContaining({ outcome: 'duplicate' }),
  ]);
  expect(await client.list({ target: 'alerts-b' })).toHaveLength(1);
});

test('rollback serve refuses to start without the secrets its config names', async () => {
  const res = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'rollback.js'), '--config', join(root, 'rollback.yaml'), 'serve', '--port', '0'],
      {
        env: { ...process.env, ROLLBACK_ALERT_TOKEN: TOKEN, ROLLBACK_ALERT_HMAC: undefined },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
  expect(res.code).toBe(2);
  expect(res.stderr).toContain(
    'ROLLBACK_ALERT_HMAC is not set in this environment: set it before starting rollback serve',
  );
});
