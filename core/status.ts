/** The `verify_status` tag values (docs/design.md §4). Order is precedence: when several apply, the first wins. */
export const VERIFY_STATUSES = ['unsigned', 'malformed', 'unknown_device', 'bad_signature', 'replay', 'rollback', 'ok'] as const;

export type VerifyStatus = (typeof VERIFY_STATUSES)[number];

export const isVerifyStatus = (s: string): s is VerifyStatus => (VERIFY_STATUSES as readonly string[]).includes(s);

/** Tag and field names that meterproof writes; incoming values under these names are never trusted. */
export const VERIFIED_TAG = 'verified';
export const STATUS_TAG = 'verify_status';
export const SIGNED_MESSAGE_FIELD = 'signed_message';
