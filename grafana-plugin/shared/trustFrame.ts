/**
 * The "Trust status" frame: the contract between the data source, which writes one row per device,
 * and the panel, which reads it. Everything else the panel reads (frames of the stock InfluxDB data
 * source) it recognises by the `device` and `verified` tags instead.
 */
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import type { VerifyStatus } from '../../core/status';

/** `frame.meta.custom.meterproof` on frames this data source writes. */
export const TRUST_FRAME_KIND = 'trust-status';

export const TRUST_FIELDS = {
  device: 'device',
  /** `verify_status` tag of the last reading (of the worst one, when several share the latest time). */
  status: 'verify_status',
  /**
   * The data source's fail-closed verdict on the last reading (shared/verdict `TrustStatus`): `ok` only when
   * every row at the latest time is tagged verified and the last verified row carries its proof.
   */
  verdict: 'verdict',
  /** Whether `verdict` is `ok`, as a boolean (false, never true, for a row without a `verified` tag). */
  verified: 'verified',
  lastSeen: 'last_seen',
  /** Time of the last verified reading that carries `signed_message` and `Signature`. */
  signedAt: 'signed_at',
  /** Last verified Total: the single value, or null on multi-phase meters (see signedValues). */
  signedTotal: 'signed_total',
  /** Stored Total fields of the last verified reading, one per phase (number[]). */
  signedValues: 'signed_values',
  signedMessage: 'signed_message',
  signature: DEFAULT_FIELD_NAMES.signature,
  readings: 'readings',
  /** Share of tagged readings in the range that verified, 0–1. */
  verifiedShare: 'verified_share',
} as const;

export const countField = (status: VerifyStatus): string => `count_${status}`;
