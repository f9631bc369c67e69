import { createVerify } from 'node:crypto';

/**
 * Amazon SNS HTTP(S) notifications, checked the way AWS documents ("Verifying the signatures of
 * Amazon SNS messages"): the signing certificate must come over https from SNS's own host, and the
 * signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) must verify over the message's
 * fields in their fixed order.
 */

export interface SnsMessage {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

export class SnsRefused extends Error {
  override name = 'SnsRefused';
}

export function parseSns(body: unknown): SnsMessage {
  const m = body as Partial<SnsMessage> | null;
  const fields = [
    'Type',
    'MessageId',
    'TopicArn',
    'Message',
    'Timestamp',
    'SignatureVersion',
    'Signature',
    'SigningCertURL',
  ] as const;
  for (const f of fields) if (typeof m?.[f] !== 'string') throw new SnsRefused(`not an SNS message: no ${f}`);
  if (!['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation'].includes(m!.Type!))
    throw new SnsRefused(`unknown SNS message type ${JSON.stringify(m!.Type)}`);
  return m as SnsMessage;
}

/** The certificate URL (and a subscription's confirm URL) must be https on SNS's host, or the configured one. */
export function checkSnsUrl(raw: string, certHost: string | undefined, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SnsRefused(`${what} is not a URL`);
  }
  const hostOk = certHost ? url.host === certHost : SNS_HOST.test(url.hostname) && !url.port;
  if (url.protocol !== 'https:' || !hostOk)
    throw new SnsRefused(
      `${what} ${url.protocol}//${url.host} is not SNS's own (${certHost ?? 'https://sns.REGION.amazonaws.com'}): refused`,
    );
  return url;
}

export function stringToSign(m: SnsMessage): string {
  const keys =
    m.Type === 'Notification'
      ? [
          'Message',
          'MessageId',
          ...(m.Subject !== undefined ? ['Subject'] : []),
          'Timestamp',
          'TopicArn',
          'Type',
        ]
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  return keys.map((k) => `${k}\n${(m as unknown as Record<string, string>)[k] ?? ''}\n`).join('');
}

const certs = new Map<string, string>();

/** Verifies the message's signature with its certificate (fetched once per URL). Throws SnsRefused. */
export async function verifySns(m: SnsMessage, certHost: string | undefined): Promise<void> {
  const url = checkSnsUrl(m.SigningCertURL, certHost, 'SigningCertURL');
  if (!url.pathname.endsWith('.pem')) throw new SnsRefused('SigningCertURL does not name a .pem certificate');
  const algorithm =
    m.SignatureVersion === '1' ? 'RSA-SHA1' : m.SignatureVersion === '2' ? 'RSA-SHA256' : undefined;
  if (!algorithm) throw new SnsRefused(`unknown SignatureVersion ${JSON.stringify(m.SignatureVersion)}`);
  let pem = certs.get(url.href);
  if (!pem) {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: 'error' });
    if (!res.ok) throw new SnsRefused(`the signing certificate could not be fetched (${res.status})`);
    pem = await res.text();
    if (!pem.includes('BEGIN CERTIFICATE'))
      throw new SnsRefused('SigningCertURL did not serve a certificate');
    certs.set(url.href, pem);
  }
  const ok = createVerify(algorithm).update(stringToSign(m), 'utf8').verify(pem, m.Signature, 'base64');
  if (!ok) throw new SnsRefused('the SNS signature does not verify: refused');
}
