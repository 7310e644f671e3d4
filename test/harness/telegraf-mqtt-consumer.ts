/**
 * Stands in for Telegraf (v1.39), which cannot run here: `inputs.mqtt_consumer` with `topic_parsing`,
 * the json v1 parser (or the value parser, exact mode), and the influx serializer that feeds
 * `processors.execd`. It reproduces their byte-level output as read from their source (docs/design.md §2–3):
 * - json v1 flattens nested keys with `_`, arrays to `_0.._n`, makes every number a float64 and drops
 *   strings and booleans unless `json_string_fields` names them (plugins/parsers/json/parser.go,
 *   `switchFieldToTag`), and null always;
 * - the serializer sorts tags, skips empty tag values, escapes names/keys with `\t \n \f \r , space (=)`,
 *   string fields with only `"` and `\`, and prints floats as Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
 * Field order inside a Telegraf metric follows a Go map, so callers may shuffle it.
 */

export interface ConsumerOptions {
  /** `json` (v1 parser) or `value` with `data_type = "string"` (exact mode). */
  readonly mode: 'json' | 'value';
  readonly measurement?: string;
  readonly host?: string;
  /** topic_parsing `tags` pattern, e.g. `_/device/_`; undefined for no topic parsing. */
  readonly topicTags?: string;
  readonly jsonStringFields?: readonly string[];
  /** Reorders fields (Go map order); identity when absent. */
  readonly orderFields?: <T>(fields: T[]) => T[];
}

type Field = [string, number | string | boolean];

export function telegrafLine(topic: string, payload: string, timeNs: bigint, opts: ConsumerOptions): string {
  const tags: Record<string, string> = { host: opts.host ?? 'telegraf-host', topic };
  if (opts.topicTags) {
    const names = opts.topicTags.split('/');
    topic.split('/').forEach((part, i) => {
      const name = names[i];
      if (name && name !== '_') tags[name] = part;
    });
  }
  let fields: Field[];
  if (opts.mode === 'value') {
    fields = [['value', payload.trim()]];
  } else {
    fields = [];
    flatten('', JSON.parse(payload), fields, opts.jsonStringFields ?? ['Signature', 'Time']);
  }
  if (opts.orderFields) fields = opts.orderFields(fields);
  return serialize(opts.measurement ?? 'mqtt_consumer', tags, fields, timeNs);
}

function flatten(prefix: string, v: unknown, out: Field[], stringFields: readonly string[]): void {
  if (Array.isArray(v)) v.forEach((item, i) => flatten(join(prefix, String(i)), item, out, stringFields));
  else if (v !== null && typeof v === 'object')
    for (const [k, item] of Object.entries(v)) flatten(join(prefix, k), item, out, stringFields);
  else if (typeof v === 'number') out.push([prefix, v]);
  else if ((typeof v === 'string' || typeof v === 'boolean') && stringFields.some((g) => glob(g).test(prefix))) out.push([prefix, v]);
}

const join = (prefix: string, key: string) => (prefix ? `${prefix}_${key}` : key);
const glob = (g: string) =>
  new RegExp(
    `^${g
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

export function serialize(name: string, tags: Record<string, string>, fields: readonly Field[], timeNs: bigint): string {
  const header = [escapeName(name)];
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key]!;
    if (key && value) header.push(`${escapeKey(key)}=${escapeKey(value)}`);
  }
  const pairs = fields.map(([k, v]) => `${escapeKey(k)}=${fieldValue(v)}`);
  return `${header.join(',')} ${pairs.join(',')} ${timeNs}\n`;
}

const CONTROL: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };
const escapeName = (s: string) => s.replace(/[\t\n\f\r ,]/g, (c) => CONTROL[c] ?? `\\${c}`);
const escapeKey = (s: string) => s.replace(/[\t\n\f\r ,=]/g, (c) => CONTROL[c] ?? `\\${c}`);

function fieldValue(v: number | string | boolean): string {
  if (typeof v === 'string') return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  if (typeof v === 'boolean') return String(v);
  return goFormatFloat(v);
}

/** Go's FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent. */
export function goFormatFloat(v: number): string {
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  const s = String(Math.abs(v));
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return sign + s;
  const digits = m[1]! + (m[2] ?? '');
  const exp = Number(m[3]);
  if (exp >= 0) return sign + digits.padEnd(exp + 1, '0');
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}
