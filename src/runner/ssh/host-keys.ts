import { createHash, createHmac } from 'node:crypto';

/** Host keys: OpenSSH fingerprints and known_hosts files (plain or hashed host names). */

/** The fingerprint OpenSSH prints for a key blob: "SHA256:" and unpadded base64. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export function normalisedFingerprint(fp: string): string {
  return `SHA256:${fp
    .trim()
    .replace(/^SHA256:/, '')
    .replace(/=+$/, '')}`;
}

/** The name a known_hosts file uses for this host: "host", or "[host]:port" off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  return pattern === name;
}

/** The keys a known_hosts file pins for a host, and the ones it revokes. */
export function pinnedKeys(
  knownHosts: string,
  host: string,
  port: number,
): { keys: Buffer[]; revoked: Buffer[]; types: string[] } {
  const name = knownHostsName(host, port);
  const keys: Buffer[] = [];
  const revoked: Buffer[] = [];
  const types = new Set<string>();
  for (const raw of knownHosts.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
    const [patterns, type, key] = fields;
    if (!patterns || !key || marker === '@cert-authority') continue;
    const names = patterns.split(',');
    if (names.some((p) => p.startsWith('!') && patternMatches(p.slice(1), name))) continue;
    if (!names.some((p) => patternMatches(p, name))) continue;
    (marker === '@revoked' ? revoked : keys).push(Buffer.from(key, 'base64'));
    if (marker !== '@revoked' && type) types.add(type);
  }
  return { keys, revoked, types: [...types] };
}

/**
 * The host-key algorithms to offer for the pinned key types, so a host that also has an ed25519
 * key shows the RSA or ECDSA key the file pins instead of a key nobody pinned.
 */
export function hostKeyAlgorithms(types: string[]): string[] {
  return types.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
}
