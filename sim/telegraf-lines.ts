/**
 * The line protocol Telegraf writes to the processor for one MQTT message, as configured in
 * telegraf.conf (mqtt_consumer + topic_parsing + json v1, or the value parser in exact mode).
 * Used by the demo and the benchmark; the tests use their own independent stand-in.
 */
import { formatFieldValue } from '../core/lineprotocol/encode';
import { flattenJson } from '../core/payload/json-v1';
import { parseJson } from '../core/payload/json-spans';
import { escapeFieldKey, escapeStringField, escapeTagValue } from '../core/lineprotocol/encode';

export type InputMode = 'json' | 'exact';

const KEEP_STRINGS = new Set(['Signature', 'Time']);

export function telegrafLine(topic: string, payload: string, timeNs: bigint, mode: InputMode, host = 'demo-host'): string {
  const device = topic.split('/')[1] ?? '';
  const tags = `mqtt_consumer,device=${escapeTagValue(device)},host=${escapeTagValue(host)},topic=${escapeTagValue(topic)}`;
  const fields =
    mode === 'exact'
      ? `value="${escapeStringField(payload)}"`
      : flattenJson(parseJson(payload), KEEP_STRINGS)
          .map(([k, v]) => `${escapeFieldKey(k)}=${typeof v === 'string' ? `"${escapeStringField(v)}"` : formatFieldValue(v)}`)
          .join(',');
  return `${tags} ${fields} ${timeNs}\n`;
}
