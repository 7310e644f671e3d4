/** The audit itself: every stored row of a measurement, re-checked page by page, tallied per device. */
import type { KeyFile } from '../core/keyfile';
import type { SignatureVerifier } from '../core/node/verifier';
import { fieldTypes, readMeasurement, tagKeys, type InfluxTarget } from './influx-pager';
import { LateKeys, type VerifiedLater } from './late-keys';
import { Rechecker, RowLayout } from './recheck';
import { RowWriter } from './retag';
import { auditSelect, shadowedTags } from './select';
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
  /**
   * Fields named like a tag the audit judges by (`verified`, `verify_status`, `device`, `topic`): a finding
   * of its own, since InfluxQL that names the tag without `::tag` reads the field. Not a row disagreement.
   */
  readonly shadowed: readonly string[];
  /**
   * Rows rejected when stored that a key registered later proves, in stored order (late-keys.ts); under
   * `retag`, those to rewrite carry their corrected point.
   */
  readonly verifiedLater?: readonly VerifiedLater[];
  readonly stats: AuditStats;
}

export interface AuditOptions {
  readonly pageSize?: number;
  readonly onPage?: (rows: number) => void;
  /** Read every tag too and prepare the corrected points of the verified-later rows (`--retag`). */
  readonly retag?: boolean;
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
  const late = new LateKeys();
  const types = await fieldTypes(target, measurement);
  const fields = [...types.keys()];
  const select = auditSelect(measurement, fields, opts.retag ? await tagKeys(target, measurement) : []);
  if (select) {
    const layout = new RowLayout(select.columns);
    const writer = opts.retag ? new RowWriter(measurement, select.sources, types) : undefined;
    for await (const page of readMeasurement(target, select, pageSize)) {
      for (const row of page.values) {
        const time = layout.time < 0 ? '' : String(row[layout.time]);
        const storedMessage = layout.signedMessage >= 0 && row[layout.signedMessage] !== null && row[layout.signedMessage] !== undefined;
        const rewriteOf = writer && ((message: string) => writer.rewrite(row, time, message));
        tally.add(late.review(recheck.check(row, layout), time, storedMessage, rewriteOf), time);
      }
      opts.onPage?.(tally.rows);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    tally,
    shadowed: shadowedTags(fields),
    verifiedLater: late.rows,
    stats: {
      seconds: Math.round(seconds * 1000) / 1000,
      rowsPerSecond: Math.round(tally.rows / Math.max(seconds, 1e-3)),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      pageSize,
      verifier: crypto.name,
    },
  };
}
