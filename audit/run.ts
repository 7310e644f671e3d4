/** The audit itself: every stored row of a measurement, re-checked page by page, tallied per device. */
import type { KeyFile } from '../core/keyfile';
import type { SignatureVerifier } from '../core/node/verifier';
import { readMeasurement, type InfluxTarget } from './influx-pager';
import { Rechecker, RowLayout } from './recheck';
import { AuditTally } from './tally';

export interface AuditStats {
  readonly seconds: number;
  readonly rowsPerSecond: number;
  /** Peak resident memory of this process (VmHWM), the figure that shows paging keeps memory bounded. */
  readonly peakRssBytes: number;
  readonly pageSize: number;
  readonly verifier: string;
}

export interface AuditResult {
  readonly tally: AuditTally;
  readonly stats: AuditStats;
}

export interface AuditOptions {
  readonly pageSize?: number;
  readonly onPage?: (rows: number) => void;
}

export const DEFAULT_PAGE_SIZE = 5_000;

export async function runAudit(
  target: InfluxTarget,
  measurement: string,
  keys: KeyFile,
  crypto: SignatureVerifier,
  opts: AuditOptions = {},
): Promise<AuditResult> {
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  const started = performance.now();
  const tally = new AuditTally();
  const recheck = new Rechecker(keys, crypto);
  for await (const page of readMeasurement(target, measurement, pageSize)) {
    const layout = new RowLayout(page.columns);
    for (const row of page.values) tally.add(recheck.check(row, layout), layout.time < 0 ? '' : String(row[layout.time]));
    opts.onPage?.(tally.rows);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    tally,
    stats: {
      seconds: Math.round(seconds * 1000) / 1000,
      rowsPerSecond: Math.round(tally.rows / Math.max(seconds, 1e-3)),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      pageSize,
      verifier: crypto.name,
    },
  };
}
