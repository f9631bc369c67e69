import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { SIGNATURE_NAMESPACE, signedMessage, type SignedAction } from '../model/signatures';
import { oneLine } from '../model/text';
import { usage } from './errors';

/**
 * Signs the action with the user's SSH key (`ssh-keygen -Y sign`; a `.pub` file signs through the
 * agent), over the workflow, run, action, step, decision, comment and a fresh nonce.
 */
export function signAction(
  keyFile: string,
  action: Omit<SignedAction, 'nonce'>,
): { signature: string; nonce: string } {
  const nonce = randomBytes(16).toString('hex');
  const r = spawnSync('ssh-keygen', ['-Y', 'sign', '-f', keyFile, '-n', SIGNATURE_NAMESPACE], {
    input: signedMessage({ ...action, nonce }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error)
    throw usage(`cannot run ssh-keygen to sign (${r.error.message}); install OpenSSH's client tools`);
  if (r.status !== 0 || !r.stdout.includes('BEGIN SSH SIGNATURE')) {
    throw usage(
      `ssh-keygen could not sign with ${keyFile}: ${oneLine(r.stderr.trim() || `exit ${r.status}`)}; give your private key, or its .pub with the key in ssh-agent`,
    );
  }
  return { signature: r.stdout, nonce };
}
