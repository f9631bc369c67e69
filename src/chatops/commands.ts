import { ROLLBACK_KINDS, type RollbackKind } from '../model/kinds';

/**
 * `/rollback …` as typed in chat: the same verbs and options as the CLI, for the things an on-call
 * engineer does from a channel. Parsing only; nothing here acts.
 */
export type ChatCommand =
  | {
      verb: 'start' | 'plan';
      kind: RollbackKind;
      target: string;
      to?: string;
      commits?: string[];
      reason: string;
    }
  | { verb: 'status'; id?: string }
  | { verb: 'cancel'; id: string }
  | { verb: 'help' };

export class ChatUsageError extends Error {}

export const CHAT_USAGE = [
  '`/rollback start emergency|complete|partial TARGET [--to VERSION] [--commit SHA] reason…`',
  '`/rollback plan emergency|complete|partial TARGET [--to VERSION] [--commit SHA]`',
  '`/rollback status [ID]`',
  '`/rollback cancel ID`',
].join('\n');

export function parseChatCommand(text: string): ChatCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const verb = words.shift();
  if (!verb || verb === 'help') return { verb: 'help' };
  if (verb === 'status') return { verb: 'status', ...(words[0] ? { id: words[0] } : {}) };
  if (verb === 'cancel') {
    if (!words[0]) throw new ChatUsageError(`say which rollback to cancel: /rollback cancel ID`);
    return { verb: 'cancel', id: words[0] };
  }
  if (verb !== 'start' && verb !== 'plan') {
    throw new ChatUsageError(`unknown command "${verb.slice(0, 40)}"; use one of:\n${CHAT_USAGE}`);
  }
  const kind = words.shift();
  if (!kind || !(ROLLBACK_KINDS as readonly string[]).includes(kind)) {
    throw new ChatUsageError(
      `say which kind of rollback: ${ROLLBACK_KINDS.join(', ')} (got ${kind ?? 'nothing'})`,
    );
  }
  const target = words.shift();
  if (!target || target.startsWith('--'))
    throw new ChatUsageError(`say which target: /rollback ${verb} ${kind} TARGET`);
  let to: string | undefined;
  const commits: string[] = [];
  const reason: string[] = [];
  while (words.length) {
    const w = words.shift()!;
    if (w === '--to' || w === '--commit') {
      const value = words.shift();
      if (!value) throw new ChatUsageError(`${w} needs a value`);
      if (w === '--to') to = value;
      else commits.push(value);
    } else if (w.startsWith('--')) {
      throw new ChatUsageError(`unknown option ${w.slice(0, 40)}; use --to or --commit`);
    } else {
      reason.push(w, ...words.splice(0));
    }
  }
  if (verb === 'start' && reason.length === 0) {
    throw new ChatUsageError(`say why: /rollback start ${kind} ${target} the reason, in words`);
  }
  return {
    verb,
    kind: kind as RollbackKind,
    target,
    ...(to ? { to } : {}),
    ...(commits.length ? { commits } : {}),
    reason: reason.join(' '),
  };
}
