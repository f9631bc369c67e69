import { oneLine } from '../model/text';

/**
 * Whatever a record holds (a reason, a comment, a name, a step's error, and anything an older
 * record kept) is data in a report, never layout. Every such value is written with `md`, always
 * after some text of ours on its line, so it cannot start a line: what is left to neutralise is
 * inline. The text stays readable in the raw file: `v1.20.2` and `lightdash_mcp` are left alone.
 */

const INLINE: Record<string, string> = {
  '\\': '\\\\',
  '`': '\\`',
  '*': '\\*',
  '[': '\\[',
  ']': '\\]',
  '|': '\\|',
  '~': '\\~',
  // An entity, not a backslash: `<!-- rollback:ID -->` must not appear even in the raw file.
  '<': '&lt;',
  // `&lt;` typed by someone shows as typed, not as `<`.
  '&': '&amp;',
};

const word = (c: string | undefined) => c !== undefined && /[A-Za-z0-9]/.test(c);

/** One line of inline Markdown showing `value` as typed: no emphasis, link, HTML, code or cell break. */
export function md(value: unknown): string {
  const text = oneLine(value === undefined || value === null ? '' : String(value));
  return text.replace(/[\\`*[\]|~<_]|&(?=#?[A-Za-z0-9]+;)/g, (c, at: number) =>
    // `_` inside a word is never emphasis; at a word's edge it may be.
    c === '_' ? (word(text[at - 1]) && word(text[at + 1]) ? c : '\\_') : INLINE[c]!,
  );
}

/** Text for a Markdown table cell: `md`, trimmed. */
export function cell(value: unknown): string {
  return md(value).trim();
}
