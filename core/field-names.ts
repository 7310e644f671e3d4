/**
 * Where a plug's reading sits in a Telegraf metric (docs/design.md §2): the defaults every part of
 * meterproof starts from. The names meterproof itself writes (`verified`, `verify_status`,
 * `signed_message`) are in ./status.
 */

/** `inputs.mqtt_consumer`'s measurement when no `name_override` is set. */
export const DEFAULT_MEASUREMENT = 'mqtt_consumer';

export interface FieldNames {
  /** Tag set by `topic_parsing` (`tags = "_/device/_"`). */
  readonly deviceTag: string;
  /** Tag holding the whole MQTT topic, `tele/<device>/SENSOR`. */
  readonly topicTag: string;
  readonly signature: string;
  /** The device-local time string; its first 19 characters are signed. */
  readonly time: string;
  /** json v1's flattened name of Total (`ENERGY_Total`; phases are `ENERGY_Total_0..n`). */
  readonly total: string;
  /** The string field holding the raw payload in exact mode (`data_format = "value"`). */
  readonly payload: string;
}

export const DEFAULT_FIELD_NAMES: FieldNames = {
  deviceTag: 'device',
  topicTag: 'topic',
  signature: 'Signature',
  time: 'Time',
  total: 'ENERGY_Total',
  payload: 'value',
};
