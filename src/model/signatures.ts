import { ed25519 } from '@noble/curves/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2';

/**
 * Signed approvals and decisions: an approver signs what they do with their SSH key
 * (`ssh-keygen -Y sign -n rollback-orchestrator`, the SSHSIG format of OpenSSH's PROTOCOL.sshsig),
 * over a message that names the workflow, its run, the action, the step and a nonce; the workflow
 * checks the signature against the public keys in the plan (an allowed_signers list). Pure code
 * with no I/O and no Node built-ins: it runs inside the workflow sandbox (the Update validators),
 * where it must be deterministic, as well as in the CLI. Ed25519 keys only.
 */

export const SIGNATURE_NAMESPACE = 'rollback-orchestrator';

/** One line of an allowed_signers file: who (principals) may sign with which key. */
export interface AllowedSigner {
  principals: string[];
  /** `ssh-ed25519 AAAA…`: the public key, as in the file (public: fine in a plan). */
  key: string;
  /** The `namespaces="…"` option, when the line restricts its key to some. */
  namespaces?: string[];
}

/** What a signature covers: everything that makes one approval different from another. */
export interface SignedAction {
  workflowId: string;
  runId: string;
  action: 'approve' | 'reject' | 'decide';
  by: string;
  /** Decisions: the failed step and the decision. */
  stepId?: string;
  decision?: string;
  comment?: string;
  /** Random, from the signer: the workflow accepts each nonce once. */
  nonce: string;
  /** Where the person acted: the CLI (default), or chat, signed by the chatops process after it verified the request. */
  channel?: 'cli' | 'slack';
}

/** The exact text signed (and verified): one `key: value` line each, in this order. */
export function signedMessage(a: SignedAction): string {
  return [
    'rollback-orchestrator signed action v1',
    `workflow: ${a.workflowId}`,
    `run: ${a.runId}`,
    `action: ${a.action}`,
    `by: ${a.by}`,
    `step: ${a.stepId ?? '-'}`,
    `decision: ${a.decision ?? '-'}`,
    `comment: ${JSON.stringify(a.comment ?? '')}`,
    `nonce: ${a.nonce}`,
    `channel: ${a.channel ?? 'cli'}`,
    '',
  ].join('\n');
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function base64Decode(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '').replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(clean)) throw new Error('not base64');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const ch of clean) {
    value = (value << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (value >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

function base64Encode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const [a, b, c] = [bytes[i]!, bytes[i + 1], bytes[i + 2]];
    const v = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    out += B64[(v >> 18) & 63]! + B64[(v >> 12) & 63]!;
    out += b === undefined ? '=' : B64[(v >> 6) & 63]!;
    out += c === undefined ? '=' : B64[v & 63]!;
  }
  return out;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** SSH wire format: uint32 length-prefixed strings. */
class Reader {
  private at = 0;
  constructor(private readonly buf: Uint8Array) {}
  bytes(n: number): Uint8Array {
    if (this.at + n > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(): number {
    const b = this.bytes(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }
  string(): Uint8Array {
    return this.bytes(this.uint32());
  }
  text(): string {
    return new TextDecoder().decode(this.string());
  }
  get done(): boolean {
    return this.at === this.buf.length;
  }
}

function sshString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** `SHA256:…` as `ssh-keygen -lf` prints it, of a public key blob. */
export function keyFingerprint(blob: Uint8Array): string {
  return `SHA256:${base64Encode(sha256(blob)).replace(/=+$/, '')}`;
}

/** The key blob of `ssh-ed25519 AAAA…`; throws on another key type or a malformed key. */
export function publicKeyBlob(key: string): Uint8Array {
  const [type, data] = key.trim().split(/\s+/);
  if (type !== 'ssh-ed25519')
    throw new Error(`only ssh-ed25519 keys are accepted (got ${type ?? 'nothing'})`);
  const blob = base64Decode(data ?? '');
  const r = new Reader(blob);
  if (r.text() !== 'ssh-ed25519' || r.string().length !== 32 || !r.done)
    throw new Error('a malformed ssh-ed25519 key');
  return blob;
}

/**
 * Parses allowed_signers lines (`principals [options] keytype key [comment]`, as ssh-keygen -Y
 * verify reads them; `#` comments and blank lines skipped). Wildcard principals are refused: an
 * approver is one name.
 */
export function parseAllowedSigners(lines: string[]): AllowedSigner[] {
  const signers: AllowedSigner[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
    const where = `allowed signer ${i + 1}`;
    const principals = (fields.shift() ?? '').split(',');
    if (principals.some((p) => !/^[A-Za-z0-9._@-]+$/.test(p))) {
      throw new Error(
        `${where}: principals must be approver names separated by commas (no wildcards), like carol`,
      );
    }
    let namespaces: string[] | undefined;
    if (fields[0] && fields[0] !== 'ssh-ed25519' && !/^(?:ssh|ecdsa|sk)-/.test(fields[0])) {
      for (const opt of fields.shift()!.split(',')) {
        const m = /^namespaces="([^"]*)"$/.exec(opt);
        if (m) namespaces = m[1]!.split(',');
        else if (!/^(?:cert-authority|valid-after=.*|valid-before=.*)$/.test(opt))
          throw new Error(`${where}: unknown option ${opt}`);
        else throw new Error(`${where}: the option ${opt.split('=')[0]} is not supported here`);
      }
    }
    const key = `${fields[0] ?? ''} ${fields[1] ?? ''}`;
    try {
      publicKeyBlob(key);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
    }
    signers.push({ principals, key, ...(namespaces ? { namespaces } : {}) });
  });
  return signers;
}

/**
 * Verifies an armored SSHSIG over `message` in our namespace and finds its signer. Returns who
 * signed (the signer line's principals) and the key's fingerprint, or throws saying what is wrong.
 */
export function verifySignature(
  armored: string,
  message: string,
  signers: AllowedSigner[],
): { principals: string[]; fingerprint: string } {
  const m = /-----BEGIN SSH SIGNATURE-----([\s\S]*?)-----END SSH SIGNATURE-----/.exec(armored);
  if (!m) throw new Error('the signature is not an SSH signature (ssh-keygen -Y sign output)');
  let blob: Uint8Array;
  try {
    blob = base64Decode(m[1]!);
  } catch {
    throw new Error('the signature is not valid base64');
  }
  const r = new Reader(blob);
  try {
    if (new TextDecoder().decode(r.bytes(6)) !== 'SSHSIG') throw new Error('no SSHSIG preamble');
    if (r.uint32() !== 1) throw new Error('an SSHSIG version other than 1');
    const publicKey = r.string();
    const namespace = r.text();
    const reserved = r.string();
    const hashAlg = r.text();
    const sig = new Reader(r.string());
    if (!r.done) throw new Error('trailing data');
    if (namespace !== SIGNATURE_NAMESPACE) {
      throw new Error(
        `the signature is for namespace "${namespace}", not ${SIGNATURE_NAMESPACE} (sign with -n ${SIGNATURE_NAMESPACE})`,
      );
    }
    if (hashAlg !== 'sha512' && hashAlg !== 'sha256') throw new Error(`an unknown hash algorithm ${hashAlg}`);
    const fingerprint = keyFingerprint(publicKey);
    const signer = signers.find((s) => equal(publicKeyBlob(s.key), publicKey));
    if (!signer) throw new Error(`the key ${fingerprint} is not an allowed signer of this target`);
    if (signer.namespaces && !signer.namespaces.includes(SIGNATURE_NAMESPACE)) {
      throw new Error(
        `the key ${fingerprint} may not sign for ${SIGNATURE_NAMESPACE} (its namespaces option)`,
      );
    }
    const keyReader = new Reader(publicKey);
    keyReader.text();
    const rawKey = keyReader.string();
    if (sig.text() !== 'ssh-ed25519') throw new Error('not an ssh-ed25519 signature');
    const sigBytes = sig.string();
    const digest = (hashAlg === 'sha512' ? sha512 : sha256)(utf8(message));
    const signed = concat(
      utf8('SSHSIG'),
      sshString(utf8(namespace)),
      sshString(reserved),
      sshString(utf8(hashAlg)),
      sshString(digest),
    );
    let ok = false;
    try {
      ok = ed25519.verify(sigBytes, signed, rawKey);
    } catch {
      ok = false;
    }
    if (!ok)
      throw new Error(
        `the signature by ${fingerprint} does not match this action (signed for another rollback, run or action?)`,
      );
    return { principals: signer.principals, fingerprint };
  } catch (err) {
    const msg = (err as Error).message;
    throw new Error(msg === 'truncated' ? 'the signature is truncated' : msg, { cause: err });
  }
}
