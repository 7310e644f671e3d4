/** Names in InfluxDB as Telegraf and the processor write them (docs/design.md §2, §4), beyond core/status. */
export const DEVICE_TAG = 'device';
export const TOPIC_TAG = 'topic';
/** Device-local time string; its first 19 characters are signed. */
export const TIME_FIELD = 'Time';
export const SIGNATURE_FIELD = 'Signature';
