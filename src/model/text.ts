/**
 * Text people type (a reason, an impact, a comment, a name) is data, never layout: it is shown in
 * terminals, Markdown reports, chat messages and the Web UI. One-line fields refuse control
 * characters (newlines, ANSI escapes, bidirectional overrides) and are length-limited; wherever
 * text is shown it is escaped for that place, so even old or foreign records cannot forge a line.
 */

export const TEXT_LIMITS = {
  reason: 500,
  impact: 500,
  comment: 500,
  name: 64,
} as const;

// C0 and C1 controls (newline, tab, ESC among them), DEL, the Unicode line and paragraph
// separators, and the bidi marks, overrides and isolates that reorder what a terminal or browser shows.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Why this text cannot be taken for `field`, with the fix; undefined when it is fine. */
export function textProblem(field: string, value: string, max: number): string | undefined {
  if (value.length > max) return `${field} is ${value.length} characters long; keep it under ${max + 1}`;
  const bad = CONTROL.exec(value);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).padStart(4, '0');
    return `${field} holds a control character (U+${code.toUpperCase()}, at ${bad.index + 1}); write it on one line without escape codes`;
  }
  return undefined;
}

/** `text` shown on one line and cut to `max` characters (an ellipsis marks the cut). */
export function clipped(text: string, max: number): string {
  const line = oneLine(text);
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Shows text on one line as typed: control characters become visible escapes (`\n`, `\x1b`, `\u202e`). */
export function oneLine(text: string): string {
  return text.replace(new RegExp(CONTROL.source, 'g'), (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
