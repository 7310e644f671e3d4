/** Words for each `verify_status`, shared by the events table and the panel's badges. */
import type { VerifyStatus } from '../../core/status';
import type { TrustStatus } from './verdict';

export const STATUS_LABEL: Record<VerifyStatus, string> = {
  ok: 'verified',
  unsigned: 'unsigned',
  malformed: 'malformed',
  unknown_device: 'unknown device',
  bad_signature: 'bad signature',
  replay: 'replay',
  rollback: 'rollback',
};

export const STATUS_REASON: Record<VerifyStatus, string> = {
  ok: 'Signature verified over Time and Total',
  unsigned: 'The reading carries no Signature',
  malformed: 'Signature is not 128 hex digits, or Time or Total is missing',
  unknown_device: 'No usable public key is registered for this device',
  bad_signature: 'The signature does not match the Time and Total that were stored',
  replay: 'The signed Time is not newer than the last accepted reading',
  rollback: 'The Time is newer but a Total went down',
};

/** The panel's verdicts: each `verify_status`, and the ones it gives when the tags cannot be taken at their word. */
export const TRUST_LABEL: Record<TrustStatus, string> = {
  ...STATUS_LABEL,
  not_verified: 'not verified',
  untagged: 'no verified tag',
  unproven: 'unproven',
};

export const TRUST_REASON: Record<TrustStatus, string> = {
  ...STATUS_REASON,
  not_verified: 'verified = false without a reason (group by verify_status to see why), or tags that contradict each other',
  untagged:
    'No verified tag: the row was not written by the meterproof processor, or the query read a field named "verified" instead of the tag',
  unproven:
    'Tagged verified = true, but the row has no Signature or no signed_message (the processor writes both), or rows of the same time disagree',
};
