import { userInfo } from 'node:os';
import { textProblem, TEXT_LIMITS } from '../model/text';
import { usage } from './errors';

/** Refuses (exit 2, naming the option) text a person typed that is too long or holds control characters. */
export function checkText(option: string, value: string | undefined, limit: number): void {
  if (value === undefined) return;
  const problem = textProblem(option, value, limit);
  if (problem) throw usage(problem);
}

/** Who is acting: --as, else ROLLBACK_USER, else the OS user; checked like any name a person typed. */
export function actingAs(as?: string): string {
  const [source, name] =
    as !== undefined
      ? ['--as', as]
      : process.env.ROLLBACK_USER !== undefined
        ? ['ROLLBACK_USER', process.env.ROLLBACK_USER]
        : ['the OS user name', userInfo().username];
  if (!name.trim()) throw usage(`${source} is empty; say who you are, e.g. --as carol`);
  checkText(source, name, TEXT_LIMITS.name);
  return name;
}

/** The options of a command that take people's text, each checked before anything else happens. */
export function checkPeopleText(opts: { reason?: string; impact?: string; comment?: string }): void {
  checkText('--reason', opts.reason, TEXT_LIMITS.reason);
  checkText('--impact', opts.impact, TEXT_LIMITS.impact);
  checkText('--comment', opts.comment, TEXT_LIMITS.comment);
}
