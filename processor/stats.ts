/** Counts since the last summary, for the periodic `I! ` line and the optional `meterproof` metric. */
import { VERIFY_STATUSES, type VerifyStatus } from '../core/status';

export class Stats {
  counts = emptyCounts();
  invalidLines = 0;
  readonly devices = new Set<string>();

  count(status: VerifyStatus, device: string | undefined): void {
    this.counts[status]++;
    if (device !== undefined && this.devices.size < 1_000_000) this.devices.add(device);
  }

  /** Returns the counts so far and starts a new period. */
  take(): { counts: Record<VerifyStatus, number>; invalidLines: number; devices: number } {
    const snap = { counts: this.counts, invalidLines: this.invalidLines, devices: this.devices.size };
    this.counts = emptyCounts();
    this.invalidLines = 0;
    this.devices.clear();
    return snap;
  }
}

const emptyCounts = () => Object.fromEntries(VERIFY_STATUSES.map((s) => [s, 0])) as Record<VerifyStatus, number>;
