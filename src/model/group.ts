/**
 * A fleet rollback: the targets of a group rolled back in waves, canary first. Pure: the client
 * splits the group into waves, the group workflow runs them.
 */

export type WaveSize = number | `${number}%`;

export type OnThreshold = 'stop' | 'compensate' | 'decide';

export interface GroupSettings {
  /** Cumulative sizes: after wave i, this many targets (or this share of them) have been started. */
  waves: WaveSize[];
  /** Children of one wave running at once. */
  maxParallel: number;
  /** Failed targets at which the group starts no more. */
  failureThreshold: number;
  pauseBetweenWavesSeconds: number;
  /** At the threshold: stop (leave the rest), compensate (roll the completed back), or ask. */
  onThreshold: OnThreshold;
  /**
   * A group of more targets than this runs its waves batch by batch, each batch a child workflow
   * of its own, so no history grows with the fleet (absent: every target from the group's history).
   */
  batchSize?: number;
}

/** The workflow id of a group's rollback: one at a time per group, as per target. */
export const groupWorkflowId = (group: string) => `rollback-group-${group}`;

/** What the group's record names as its target (RollbackTarget search attribute too). */
export const groupLabel = (group: string) => `group:${group}`;

/**
 * The targets of each wave, from cumulative sizes: `[1, "25%", "100%"]` over 20 targets is waves of
 * 1, 4 and 15. Sizes never shrink, a wave is never empty, and the last wave takes whatever is left.
 */
export function splitWaves(targets: readonly string[], waves: readonly WaveSize[]): string[][] {
  const n = targets.length;
  const out: string[][] = [];
  let done = 0;
  for (const w of waves) {
    const upTo = typeof w === 'number' ? w : Math.ceil((n * Number(String(w).slice(0, -1))) / 100);
    const end = Math.min(n, Math.max(done + 1, upTo));
    if (end > done) out.push(targets.slice(done, end));
    done = end;
    if (done >= n) break;
  }
  if (done < n) out.push(targets.slice(done));
  return out;
}
