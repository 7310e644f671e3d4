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
  /** Last verdict's `verify_status`. */
  status: 'verify_status',
  /** Last verdict (`verified` tag), as a boolean. */
  verified: 'verified',
  lastSeen: 'last_seen',
  /** Time of the last verified reading. */
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
