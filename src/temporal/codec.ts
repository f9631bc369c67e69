import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { ConfigError } from '../targets/errors';

/**
 * Payloads encrypted before they leave the process: AES-256-GCM, a fresh 12-byte nonce per payload,
 * the whole payload (its metadata and data) sealed, the key's id in the clear so a reader picks the
 * right key. The first key writes; every key reads, so keys rotate without losing old histories.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface CodecKey {
  id: string;
  key: Buffer;
}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: CodecKey[]) {
    if (keys.length === 0) throw new ConfigError('the payload codec needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The key new payloads are written with. */
  get writeKeyId(): string {
    return this.keys[0].id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0];
    return payloads.map((payload) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      // The key id is bound to the ciphertext: a payload relabelled with another id does not open.
      cipher.setAAD(Buffer.from(id));
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID]: Buffer.from(id) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== ENCRYPTED_ENCODING) return payload;
      const id = Buffer.from(payload.metadata?.[KEY_ID] ?? []).toString();
      const key = this.byId.get(id);
      if (!key) {
        throw new Error(
          `a payload is encrypted with key "${id}", which this process does not have (it has ${[...this.byId.keys()].map((k) => `"${k}"`).join(', ')}); ` +
            'add that key to ROLLBACK_CODEC_KEYS or ROLLBACK_CODEC_KEY_FILE (old keys stay, after the one that writes)',
        );
      }
      const data = Buffer.from(payload.data ?? []);
      if (data.length < NONCE_BYTES + TAG_BYTES)
        throw new Error(`an encrypted payload (key "${id}") is truncated`);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([
          decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
          decipher.final(),
        ]);
      } catch {
        throw new Error(
          `an encrypted payload does not open with key "${id}": the key is not the one it was written with, or the payload was altered`,
        );
      }
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/**
 * Keys from the environment: ROLLBACK_CODEC_KEYS ("id:base64,id:base64", the first writes) or
 * ROLLBACK_CODEC_KEY_FILE (a file of "id base64" lines, the first writes; # comments). Each key is
 * 32 random bytes, base64 (`openssl rand -base64 32`). Neither set: no codec.
 */
export function codecKeysFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): CodecKey[] | undefined {
  const inline = env.ROLLBACK_CODEC_KEYS?.trim();
  const file = env.ROLLBACK_CODEC_KEY_FILE?.trim();
  if (inline && file) {
    throw new ConfigError('both ROLLBACK_CODEC_KEYS and ROLLBACK_CODEC_KEY_FILE are set; keep one of them');
  }
  if (!inline && !file) return undefined;
  let entries: [string, string, string][];
  if (inline) {
    entries = inline.split(',').map((part, i) => {
      const where = `ROLLBACK_CODEC_KEYS entry ${i + 1}`;
      const at = part.indexOf(':');
      // Messages never show a value: a mistyped entry may be the key itself.
      if (at < 0) throw new ConfigError(`${where} has no "ID:" before its key; write it as ID:BASE64KEY`);
      return [part.slice(0, at).trim(), part.slice(at + 1).trim(), where];
    });
  } else {
    let text: string;
    try {
      text = readFileSync(file!, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `ROLLBACK_CODEC_KEY_FILE ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; point it at a readable key file`,
      );
    }
    entries = text
      .split('\n')
      .map((line, i) => [line.replace(/#.*/, '').trim(), i + 1] as const)
      .filter(([line]) => line)
      .map(([line, n]) => {
        const words = line.split(/\s+/);
        const where = `${file} line ${n}`;
        if (words.length !== 2)
          throw new ConfigError(`${where} holds ${words.length} word(s), not two; write it as ID BASE64KEY`);
        return [words[0]!, words[1]!, where];
      });
  }
  const keys = entries.map(([id, b64, where]) => {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
      throw new ConfigError(
        `${where}: the key id is not a name (1 to 64 letters, digits, . _ -); write it as ${inline ? 'ID:BASE64KEY' : 'ID BASE64KEY'} (the value is not shown: it may be a key)`,
      );
    }
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')) {
      throw new ConfigError(
        `${where}: key "${id}" is not 32 bytes of base64; make one with: openssl rand -base64 32`,
      );
    }
    return { id, key };
  });
  if (keys.length === 0) throw new ConfigError(`${file ?? 'ROLLBACK_CODEC_KEYS'} holds no key`);
  const ids = keys.map((k) => k.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new ConfigError(`key id "${dup}" is given twice; each key needs its own id`);
  return keys;
}

/**
 * What the worker and every client use to write and read payloads: with keys, the payloads are
 * encrypted, and failures' messages and stack traces go into an encrypted payload too (so no
 * reason, error text or record is readable in the server's database). Search attributes stay
 * readable (the list needs them): target, kind, versions and who asked.
 */
export function dataConverterFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): DataConverter | undefined {
  const keys = codecKeysFromEnv(env);
  if (!keys) return undefined;
  return {
    payloadCodecs: [new EncryptionCodec(keys)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
