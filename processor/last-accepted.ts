/**
 * What each device last proved: the newest accepted signed Time and its Totals. Replays and
 * rollbacks are judged against it, and only `ok` readings move it forward.
 */
export interface Accepted {
  /** The 19 signed characters of Time; fixed-width, so string order is time order. */
  readonly time19: string;
  readonly totals: readonly number[];
  /** The key that vouched for `totals`. */
  readonly keyHex: string;
}

export type Progress = 'ok' | 'replay' | 'rollback';

export class LastAccepted {
  private readonly accepted = new Map<string, Accepted>();
  /** Decimal count that last verified per device, tried first next time (not persisted: only a speed hint). */
  private readonly decimals = new Map<string, number>();
  private version = 0;

  /**
   * `keyNotBefore` is when the verifying key became valid. A key that became valid only after the
   * last accepted reading is a new key (a hard reset restarts the counter too), so Totals may start
   * over; any other key, old or new, must not go below what was accepted.
   */
  judge(device: string, time19: string, totals: readonly number[], keyHex: string, keyNotBefore?: string): Progress {
    const last = this.accepted.get(device);
    if (!last) return 'ok';
    if (time19 <= last.time19) return 'replay';
    const freshKey = keyHex !== last.keyHex && keyNotBefore !== undefined && keyNotBefore > last.time19;
    return !freshKey && wentDown(last.totals, totals) ? 'rollback' : 'ok';
  }

  accept(device: string, a: Accepted): void {
    this.accepted.set(device, a);
    this.version++;
  }

  get(device: string): Accepted | undefined {
    return this.accepted.get(device);
  }

  /** The key that verified the device's last accepted reading. */
  lastKeyHex(device: string): string | undefined {
    return this.accepted.get(device)?.keyHex;
  }

  preferredDecimals(device: string): number | undefined {
    return this.decimals.get(device);
  }

  rememberDecimals(device: string, d: number): void {
    this.decimals.set(device, d);
  }

  /** Increases with every accepted reading, so a persister can tell whether anything changed. */
  get changes(): number {
    return this.version;
  }

  entries(): IterableIterator<[string, Accepted]> {
    return this.accepted.entries();
  }

  /** Merges remembered state, keeping whichever Time is newer per device (safe with two writers). */
  merge(entries: Iterable<[string, Accepted]>): void {
    for (const [device, a] of entries) {
      const mine = this.accepted.get(device);
      if (!mine || a.time19 > mine.time19) this.accepted.set(device, a);
    }
  }
}

/**
 * Whether a Total went down: any phase, or, when the number of phases changed (SetOption129 turned off
 * prints their sum as one Total; a phase dropped out), the sum (docs/design.md §4, "Rollback"). Sums
 * are compared in micro-units, since each value is an exact decimal of at most 6 places and a float
 * sum would not be (1.1 + 2.2 > 3.3). A plain loop: this runs for every reading.
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
