import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAutomaticRollback, type GuardRollbackOutcome } from '../activities/guard';
import type { RollbackClient } from '../client';
import { oneLine } from '../model/text';
import { loadConfig } from '../targets/load';
import type { AlertRoute, AlertsConfig } from './schema';
import { checkSnsUrl, parseSns, SnsRefused, verifySns } from './sns';

/**
 * `rollback serve`: alerts in. Prometheus Alertmanager webhooks (POST /alerts/alertmanager, a bearer
 * token or an HMAC of the body) and AWS SNS notifications of CloudWatch alarms (POST /alerts/sns,
 * the SNS signature verified), each mapped by the config's `alerts.routes` to a target and a kind,
 * start the rollback the way `rollback start` does. An alert that fires again starts nothing.
 */

export interface AlertServerOptions {
  client: RollbackClient;
  configFile: string;
  env?: Readonly<Record<string, string | undefined>>;
  webUiBase?: string;
  log?: (line: string) => void;
}

interface AlertmanagerAlert {
  status?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  generatorURL?: string;
  fingerprint?: string;
}

export interface AlertOutcome {
  alert: string;
  outcome: GuardRollbackOutcome['outcome'] | 'unmatched' | 'duplicate' | 'ignored';
  detail: string;
  target?: string;
  workflowId?: string;
}

const MAX_BODY = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'body over 1 MiB'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The secrets the config names, read from the environment; a named one that is unset is an error now, not at the first alert. */
export function alertSecrets(alerts: AlertsConfig, env: Readonly<Record<string, string | undefined>>) {
  const missing = [alerts.tokenEnv, alerts.hmacSecretEnv].filter((n): n is string => !!n && !env[n]);
  if (missing.length)
    throw new Error(
      `alerts: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set in this environment`,
    );
  return {
    token: alerts.tokenEnv && env[alerts.tokenEnv],
    hmac: alerts.hmacSecretEnv && env[alerts.hmacSecretEnv],
  };
}

function authorize(req: IncomingMessage, body: Buffer, secrets: ReturnType<typeof alertSecrets>): void {
  const auth = String(req.headers.authorization ?? '');
  if (secrets.token && auth.startsWith('Bearer ') && same(auth.slice(7), secrets.token)) return;
  const sig = String(req.headers['x-rollback-signature'] ?? '');
  if (secrets.hmac && sig.startsWith('sha256=')) {
    const want = createHmac('sha256', secrets.hmac).update(body).digest('hex');
    if (same(sig.slice(7), want)) return;
  }
  if (!secrets.token && !secrets.hmac)
    throw new HttpError(
      403,
      'this server takes no Alertmanager alerts: give alerts.tokenEnv or alerts.hmacSecretEnv',
    );
  throw new HttpError(
    401,
    'not authorized: send the bearer token (Authorization) or an HMAC of the body (X-Rollback-Signature: sha256=HEX)',
  );
}

function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

export function createAlertServer(o: AlertServerOptions) {
  const env = o.env ?? process.env;
  const log = o.log ?? (() => undefined);
  const seen = new Map<string, number>();
  let alertsNow = (): AlertsConfig => {
    const alerts = loadConfig(o.configFile).config.alerts;
    if (!alerts) throw new HttpError(503, `${o.configFile} has no alerts: section`);
    return alerts;
  };
  const first = alertsNow();
  const secrets = alertSecrets(first, env);
  // The config is read again per request (routes may change); the secrets stay those checked at start.
  const config = () => {
    try {
      return alertsNow();
    } catch (err) {
      if (err instanceof HttpError) throw err;
      log(
        `config ${o.configFile} no longer loads, using the routes from the start: ${oneLine((err as Error).message)}`,
      );
      alertsNow = () => first;
      return first;
    }
  };

  /** Whether this alert already started (or is starting) a rollback within the dedupe window. */
  async function duplicate(
    key: string,
    route: AlertRoute,
    requestedBy: string,
    dedupeSeconds: number,
  ): Promise<boolean> {
    const now = Date.now();
    const at = seen.get(key);
    if (at !== undefined && now - at < dedupeSeconds * 1000) return true;
    // Across restarts of this server: a rollback of the target by the same alert, recently.
    const recent = await o.client.list({ target: route.target, limit: 20 });
    return recent.some(
      (r) => r.requestedBy === requestedBy && now - Date.parse(r.startTime) < dedupeSeconds * 1000,
    );
  }

  async function fire(
    name: string,
    key: string,
    route: AlertRoute,
    alerts: AlertsConfig,
    why: { reason: string; evidence: string[]; source: string },
  ): Promise<AlertOutcome> {
    const requestedBy = `alert:${name.replace(/[^A-Za-z0-9._@-]/g, '-').slice(0, 58)}`;
    if (await duplicate(key, route, requestedBy, alerts.dedupeSeconds)) {
      return {
        alert: name,
        outcome: 'duplicate',
        detail: `already acted on within ${alerts.dedupeSeconds} s`,
        target: route.target,
      };
    }
    seen.set(key, Date.now());
    const now = new Date();
    const outcome = await startAutomaticRollback(o.client, {
      configFile: o.configFile,
      target: route.target,
      requestedBy,
      rule: name,
      kind: route.kind,
      ...(route.to ? { to: route.to } : {}),
      rollbackId: `${route.target}-${stamp(now)}-alert`,
      requestedAt: now.toISOString(),
      reason: why.reason,
      evidence: why.evidence,
      impact: `found by ${why.source} (see the evidence)`,
      webUiBase: o.webUiBase,
    });
    if (outcome.outcome !== 'started') seen.delete(key);
    log(`${why.source} ${name} → ${route.target}: ${outcome.outcome}: ${outcome.detail}`);
    return { alert: name, target: route.target, ...outcome };
  }

  async function alertmanager(req: IncomingMessage, body: Buffer): Promise<AlertOutcome[]> {
    authorize(req, body, secrets);
    let payload: { alerts?: AlertmanagerAlert[] };
    try {
      payload = JSON.parse(body.toString('utf8')) as typeof payload;
    } catch {
      throw new HttpError(400, 'the body is not JSON (an Alertmanager webhook payload was expected)');
    }
    if (!Array.isArray(payload?.alerts))
      throw new HttpError(400, 'no alerts array: not an Alertmanager webhook payload');
    const alerts = config();
    const out: AlertOutcome[] = [];
    for (const a of payload.alerts) {
      const labels = a.labels ?? {};
      const name = String(labels.alertname ?? 'unnamed');
      if (a.status !== 'firing') {
        out.push({ alert: name, outcome: 'ignored', detail: `status ${String(a.status)}` });
        continue;
      }
      const route = alerts.routes.find(
        (r) => r.labels && Object.entries(r.labels).every(([k, v]) => labels[k] === v),
      );
      if (!route) {
        out.push({
          alert: name,
          outcome: 'unmatched',
          detail: 'no route in alerts.routes matches its labels',
        });
        continue;
      }
      const evidence = [
        `alert ${name} firing since ${String(a.startsAt)}`,
        `labels: ${Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
        ...Object.entries(a.annotations ?? {}).map(([k, v]) => `${k}: ${oneLine(String(v))}`),
        ...(a.generatorURL ? [`source: ${a.generatorURL}`] : []),
      ];
      const summary = a.annotations?.summary ?? a.annotations?.description ?? '';
      out.push(
        await fire(name, `am:${a.fingerprint ?? JSON.stringify(labels)}:${a.startsAt}`, route, alerts, {
          reason: `alert ${name}${summary ? `: ${oneLine(summary)}` : ''}`,
          evidence,
          source: 'Alertmanager',
        }),
      );
    }
    return out;
  }

  async function sns(body: Buffer): Promise<AlertOutcome[]> {
    const alerts = config();
    if (!alerts.sns)
      throw new HttpError(403, 'this server takes no SNS notifications: give alerts.sns.topicArns');
    let m;
    try {
      m = parseSns(JSON.parse(body.toString('utf8')));
    } catch (err) {
      throw new HttpError(
        400,
        err instanceof SnsRefused ? err.message : 'the body is not JSON (an SNS message was expected)',
      );
    }
    if (!alerts.sns.topicArns.includes(m.TopicArn))
      throw new HttpError(403, `topic ${m.TopicArn} is not in alerts.sns.topicArns`);
    try {
      await verifySns(m, alerts.sns.certHost);
    } catch (err) {
      if (err instanceof SnsRefused) throw new HttpError(403, err.message);
      throw err;
    }
    if (m.Type === 'SubscriptionConfirmation') {
      const url = checkSnsUrl(m.SubscribeURL ?? '', alerts.sns.certHost, 'SubscribeURL');
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: 'error' });
      return [{ alert: m.TopicArn, outcome: 'ignored', detail: `subscription confirmed (${res.status})` }];
    }
    if (m.Type !== 'Notification') return [{ alert: m.TopicArn, outcome: 'ignored', detail: m.Type }];
    let alarm: {
      AlarmName?: string;
      NewStateValue?: string;
      NewStateReason?: string;
      StateChangeTime?: string;
      Region?: string;
    };
    try {
      alarm = JSON.parse(m.Message) as typeof alarm;
    } catch {
      return [
        { alert: m.Subject ?? m.MessageId, outcome: 'ignored', detail: 'not a CloudWatch alarm message' },
      ];
    }
    const name = String(alarm.AlarmName ?? m.Subject ?? 'unnamed');
    if (alarm.NewStateValue !== 'ALARM')
      return [{ alert: name, outcome: 'ignored', detail: `state ${String(alarm.NewStateValue)}` }];
    const route = alerts.routes.find((r) => r.alarm === name);
    if (!route)
      return [{ alert: name, outcome: 'unmatched', detail: 'no route in alerts.routes names this alarm' }];
    return [
      await fire(name, `sns:${name}:${alarm.StateChangeTime ?? m.MessageId}`, route, alerts, {
        reason: `CloudWatch alarm ${name}${alarm.NewStateReason ? `: ${oneLine(alarm.NewStateReason)}` : ''}`,
        evidence: [
          `alarm ${name} in ALARM since ${String(alarm.StateChangeTime)}${alarm.Region ? ` (${alarm.Region})` : ''}`,
          ...(alarm.NewStateReason ? [`reason: ${oneLine(alarm.NewStateReason)}`] : []),
          `SNS message ${m.MessageId} on ${m.TopicArn}`,
        ],
        source: 'SNS',
      }),
    ];
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const send = (status: number, data: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(data)}\n`);
    };
    try {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') return send(200, { ok: true });
      if (path !== '/alerts/alertmanager' && path !== '/alerts/sns')
        throw new HttpError(404, 'POST alerts to /alerts/alertmanager or /alerts/sns');
      if (req.method !== 'POST') throw new HttpError(405, 'POST only');
      const body = await readBody(req);
      const results = path === '/alerts/sns' ? await sns(body) : await alertmanager(req, body);
      send(200, { results });
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      const message = oneLine((err as Error).message);
      log(`${req.method} ${req.url}: ${status} ${message}`);
      send(status, { error: message });
    }
  }

  const server: Server = createServer((req, res) => void handle(req, res));
  return {
    server,
    async start(port = 0, host = '127.0.0.1'): Promise<{ port: number }> {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      return { port: (server.address() as AddressInfo).port };
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
