/**
 * Replay and rollback (docs/design.md §4): whether a verified reading moves its device forward from the
 * last one accepted. The processor judges live with it, the audit judges stored rows with it.
 */

/** A device's last accepted reading. */
export interface Accepted {
  /** The 19 signed characters of Time; fixed-width, so string order is time order. */
  readonly time19: string;
  readonly totals: readonly number[];
  /** The key that vouched for `totals`. */
  readonly keyHex: string;
}

export type Progress = 'ok' | 'replay' | 'rollback';

/**
 * `keyNotBefore` is when the verifying key became valid. A key that became valid only after the last
 * accepted reading is a new key (a hard reset restarts the counter too), so Totals may start over; any
 * other key, old or new, must not go below what was accepted. A device's first reading is accepted.
 */
export function judgeProgress(
  last: Accepted | undefined,
  time19: string,
  totals: readonly number[],
  keyHex: string,
  keyNotBefore: string | undefined,
): Progress {
  if (!last) return 'ok';
  if (time19 <= last.time19) return 'replay';
  const freshKey = keyHex !== last.keyHex && keyNotBefore !== undefined && keyNotBefore > last.time19;
  return !freshKey && wentDown(last.totals, totals) ? 'rollback' : 'ok';
}

/**
 * Whether a Total went down: any phase, or, when the number of phases changed (SetOption129 turned off
 * prints their sum as one Total; a phase dropped out), the sum. Sums are compared in micro-units, since
 * each value is an exact decimal of at most 6 places and a float sum would not be (1.1 + 2.2 > 3.3).
 * A plain loop: this runs for every reading.
 */
function wentDown(before: readonly number[], now: readonly number[]): boolean {
  if (before.length === now.length) {
    for (let i = 0; i < now.length; i++) if (now[i]! < before[i]!) return true;
    return false;
  }
  return microSum(now) < microSum(before);
}

function microSum(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += Math.round(v * 1e6);
  return sum;
}
