/**
 * The verdict shown for a reading, shared by the data source (which writes it into the trust frame) and the
 * panel (which judges again from the facts beside it). It fails closed: only rows whose tags say
 * `verified=true` and `verify_status=ok`, and that carry the processor's proof where the query selected it,
 * are verified; rows of one device sharing the latest time must all be, or the worst of them is shown.
 */
import { VERIFY_STATUSES, isVerifyStatus, type VerifyStatus } from '../../core/status';

/**
 * A `verify_status`, or what is shown when the tags cannot be taken at their word:
 * - `not_verified`: `verified=false` without a reason, or `verify_status=ok` beside `verified=false`;
 * - `untagged`: no `verified` tag (the row did not come through the processor, or the query read a field);
 * - `unproven`: tagged `verified=true`, but the row lacks `Signature` or `signed_message` (the processor
 *   always writes both), or rows of one time disagree about what was signed.
 */
export type TrustStatus = VerifyStatus | 'not_verified' | 'untagged' | 'unproven';

export const TRUST_STATUSES: readonly TrustStatus[] = [...VERIFY_STATUSES, 'not_verified', 'untagged', 'unproven'];

export const isTrustStatus = (s: unknown): s is TrustStatus => typeof s === 'string' && (TRUST_STATUSES as readonly string[]).includes(s);

/** How bad a verdict is: forgery signs first, then missing data, `ok` last. Sorting and ties use it. */
export const SEVERITY: Record<TrustStatus, number> = {
  bad_signature: 9,
  unproven: 8,
  rollback: 7,
  replay: 6,
  untagged: 5,
  not_verified: 4,
  unknown_device: 3,
  malformed: 2,
  unsigned: 1,
  ok: 0,
};

/** A tag's value. InfluxDB tag values are non-empty strings: anything else is no tag (a boolean came from a field). */
export const tagText = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * One row's verdict from its `verified` and `verify_status` tags. `proven`: whether the row carries both
 * `signed_message` and `Signature`; undefined when the query did not select them, so nothing is known.
 */
export function rowVerdict(verified: unknown, status: unknown, proven?: boolean): TrustStatus {
  const v = tagText(verified);
  const s = tagText(status);
  if (v !== 'true' && v !== 'false') return 'untagged';
  if (v === 'false') return s !== undefined && s !== 'ok' && isVerifyStatus(s) ? s : 'not_verified';
  // verified=true with a failing or unknown verify_status contradicts itself: the failing side wins.
  if (s !== undefined && s !== 'ok') return isVerifyStatus(s) ? s : 'not_verified';
  return proven === false ? 'unproven' : 'ok';
}

/** The verdict of rows that share the latest time: `ok` only if all are, else the worst of them. */
export function worstOf(verdicts: Iterable<TrustStatus>): TrustStatus | undefined {
  let worst: TrustStatus | undefined;
  for (const v of verdicts) if (worst === undefined || SEVERITY[v] > SEVERITY[worst]) worst = v;
  return worst;
}
