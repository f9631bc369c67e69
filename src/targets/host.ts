import { z } from 'zod';
import { HOST_WORKER_NAME, type HostSpec } from '../model';
import { absolutePath } from './common';

/**
 * `host:` on a target: where its service runs. `local` (the default) is the worker's own machine;
 * `{ ssh: {...} }` a host the worker logs in to; `{ worker: NAME }` a host whose own worker
 * (`rollback worker --host NAME`) takes that host's steps. SSH hosts pin their key: there is no
 * trust on first use, and no password or key material is accepted in the config.
 */

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const SECRET_FIELDS = ['password', 'passphrase', 'privateKey', 'key', 'secret'];

const workerName = z
  .string()
  .regex(HOST_WORKER_NAME, 'must be a host worker name (letters, digits, . _ -), like web-1');

const sshFields = z
  .strictObject({
    host: z.string().refine((h) => HOSTNAME.test(h) || (h.includes(':') && IPV6.test(h)), {
      message: 'must be a host name or an IP address, like web-1.internal or 10.0.0.5',
    }),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, 'must be a Unix user name, like deploy'),
    identityFile: absolutePath.optional(),
    agent: z.boolean().optional(),
    hostKeySha256: z
      .string()
      .regex(
        FINGERPRINT,
        'must be a SHA-256 fingerprint as `ssh-keygen -lf` prints it, like SHA256:…(43 characters)',
      )
      .optional(),
    knownHosts: absolutePath.optional(),
    connectTimeoutSeconds: z.number().min(1).max(120).optional(),
  })
  .superRefine((s, ctx) => {
    if (!s.identityFile && !s.agent) {
      ctx.addIssue({
        code: 'custom',
        message: 'say how to log in: identityFile (a key file on the worker) or agent: true (SSH_AUTH_SOCK)',
      });
    }
    if (s.identityFile && s.agent) {
      ctx.addIssue({ code: 'custom', message: 'give identityFile or agent: true, not both' });
    }
    if (!s.hostKeySha256 && !s.knownHosts) {
      ctx.addIssue({
        code: 'custom',
        message:
          "pin the host's key with hostKeySha256 (ssh-keygen -lf on the host's key) or knownHosts (a known_hosts file): " +
          'there is no trust on first use',
      });
    }
  });

/** Passwords and keys are refused by name, with the way to do it instead. */
const sshSchema = z.preprocess((value, ctx) => {
  if (value && typeof value === 'object') {
    for (const field of SECRET_FIELDS) {
      if (field in value) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${field} is not accepted in the config (it would be stored in every workflow history): log in with identityFile or agent: true`,
          input: value,
        });
        return z.NEVER;
      }
    }
  }
  return value;
}, sshFields);

const hostObject = z
  .strictObject(
    { ssh: sshSchema.optional(), worker: workerName.optional() },
    { error: 'must be local, { ssh: { host, user, identityFile, hostKeySha256 } } or { worker: NAME }' },
  )
  .superRefine((h, ctx) => {
    if (h.ssh && h.worker) {
      ctx.addIssue({
        code: 'custom',
        message:
          'a host is reached either over ssh or through its own worker, not both: keep ssh (the worker logs in) or worker (a worker on the host)',
      });
    }
    if (!h.ssh && !h.worker) {
      ctx.addIssue({ code: 'custom', message: 'say how to reach the host: ssh: {...} or worker: NAME' });
    }
  });

/** `local`, or how to reach the host; parsed into the plan's HostSpec (undefined for local). */
export const hostSchema = z
  .preprocess((v) => (v === 'local' || v === undefined ? null : v), hostObject.nullable())
  .transform((h): HostSpec | undefined => {
    if (!h) return undefined;
    if (h.ssh) return { ssh: h.ssh };
    return { worker: h.worker! };
  });
