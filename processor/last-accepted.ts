import { judgeProgress, type Accepted } from '../core/progress';

export type { Accepted, Progress } from '../core/progress';

/**
 * What each device last proved: the newest accepted signed Time and its Totals. Replays and
 * rollbacks are judged against it, and only `ok` readings move it forward.
 */
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
  judge(
    device: string,
    time19: string,
    totals: readonly number[],
    keyHex: string,
    keyNotBefore?: string,
  ): ReturnType<typeof judgeProgress> {
    return judgeProgress(this.accepted.get(device), time19, totals, keyHex, keyNotBefore);
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
