import type { temporal } from '@temporalio/proto';

/** The benches' arithmetic: medians and percentiles of timings, and a history event's time. */

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The p-th percentile, nearest rank. */
export const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

/** When a history event was written, in ms since the epoch. */
export const eventMs = (t: temporal.api.history.v1.IHistoryEvent['eventTime']) =>
  Number(t?.seconds?.toString() ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
