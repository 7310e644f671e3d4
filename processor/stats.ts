/** Counts since the last report, for the periodic `I! ` summary and the optional `meterproof` metric. */
import { VERIFY_STATUSES, type VerifyStatus } from '../core/status';

export interface StatsSnapshot {
  readonly counts: Readonly<Record<VerifyStatus, number>>;
  readonly invalidLines: number;
  readonly devices: number;
  /** More devices were seen than are counted (see MAX_TRACKED_NAME_UNITS): `devices` is a lower bound. */
  readonly devicesCapped: boolean;
}

/**
 * Device names counted per interval are bounded in bytes, not only in number: a flood of distinct
 * 1 KB names must not grow the process. Past the bound the count is reported as a lower bound.
 */
const MAX_TRACKED_DEVICES = 1_000_000;
const MAX_TRACKED_NAME_UNITS = 8 * 2 ** 20;

export class Stats {
  private counts = emptyCounts();
  invalidLines = 0;
  private readonly devices = new Set<string>();
  /** UTF-16 units of the names in `devices`. */
  private nameUnits = 0;
  private devicesCapped = false;

  count(status: VerifyStatus, device: string | undefined): void {
    this.counts[status]++;
    if (device === undefined || this.devices.has(device)) return;
    if (this.devices.size >= MAX_TRACKED_DEVICES || this.nameUnits + device.length > MAX_TRACKED_NAME_UNITS) this.devicesCapped = true;
    else {
      this.devices.add(device);
      this.nameUnits += device.length;
    }
  }

  peek(): StatsSnapshot {
    return { counts: { ...this.counts }, invalidLines: this.invalidLines, devices: this.devices.size, devicesCapped: this.devicesCapped };
  }

  reset(): void {
    this.counts = emptyCounts();
    this.invalidLines = 0;
    this.devices.clear();
    this.nameUnits = 0;
    this.devicesCapped = false;
  }
}

const emptyCounts = () => Object.fromEntries(VERIFY_STATUSES.map((s) => [s, 0])) as Record<VerifyStatus, number>;

/** `state` (with --state): `file`, or `memory-only` while the state file cannot be written. */
export function summaryLine(s: StatsSnapshot, keyReloads: number, state?: string): string {
  const parts = VERIFY_STATUSES.filter((k) => s.counts[k] > 0).map((k) => `${k}=${s.counts[k]}`);
  return (
    `summary: ${parts.join(' ') || 'no metrics'}; devices${s.devicesCapped ? '>=' : '='}${s.devices} invalid_lines=${s.invalidLines} key_reloads=${keyReloads}` +
    (state === undefined ? '' : ` state=${state}`)
  );
}

/** The `meterproof` metric: one extra line beyond one-for-one, only with --stats-interval. */
export function statsMetric(s: StatsSnapshot, keyReloads: number, nowMs: number): string {
  const fields = VERIFY_STATUSES.map((k) => `${k}=${s.counts[k]}i`);
  return `meterproof ${fields.join(',')},invalid_lines=${s.invalidLines}i,devices=${s.devices}i,key_reloads=${keyReloads}i ${nowMs}000000\n`;
}
