/** Words for each `verify_status`, shared by the events table and the panel's badges. */
import type { VerifyStatus } from '../../core/status';

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
