/**
 * Escaping for the tags and fields meterproof writes, by the rules of Telegraf's influx serializer
 * (plugins/serializers/influx/escape.go): keys and tag values escape ',' '=' ' ' with a backslash and
 * write tab, newline, form feed and carriage return as the two characters `\t` `\n` `\f` `\r`; string
 * fields escape only '"' and '\'. Results come without surrounding quotes.
 */

const CONTROL_TEXT: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };
const NAME_SPECIAL = /[\x00-\x1f\x7f ,=]/g;
const STRING_SPECIAL = /["\\]/g;

/**
 * Escapes a tag key, tag value or field key. Other control bytes cannot appear in a name at all and
 * are dropped; trailing backslashes are trimmed, as Telegraf does, because they would escape the
 * delimiter that follows. Returns '' when nothing remains: the caller must then leave the tag or field out.
 */
function escapeName(s: string): string {
  const escaped = s.replace(NAME_SPECIAL, (c) => CONTROL_TEXT[c] ?? (c === ' ' || c === ',' || c === '=' ? `\\${c}` : ''));
  return escaped.endsWith('\\') ? escaped.replace(/\\+$/, '') : escaped;
}

/**
 * Whether a tag key, tag value or field key reads back exactly as given once escaped. Escaped spaces,
 * commas and equals signs do. Control characters do not (dropped, or written as the two characters
 * `\t`), nor trailing backslashes (trimmed); and any backslash is refused, because parsers disagree on
 * a backslash before an escaped byte (InfluxDB 1.x skips the pair `\\`, then ends the name at the space).
 */
export function writesAsIs(name: string): boolean {
  return name !== '' && !UNSAFE_IN_NAME.test(name);
}
const UNSAFE_IN_NAME = /[\x00-\x1f\x7f\\]/;

export const escapeTagKey = escapeName;
export const escapeTagValue = escapeName;
export const escapeFieldKey = escapeName;

/** Escapes string field content ('"' and '\'); raw newlines are allowed inside the quotes. */
export function escapeStringField(s: string): string {
  return s.replace(STRING_SPECIAL, (c) => `\\${c}`);
}

/** Floats the way Telegraf's serializer prints them (Go `FormatFloat(v, 'f', -1, 64)`); booleans as words. */
export function formatFieldValue(v: number | boolean): string {
  if (typeof v === 'boolean') return String(v);
  const s = String(v);
  if (!s.includes('e')) return Object.is(v, -0) ? '-0' : s;
  const [mant = '', expText = '0'] = s.replace('-', '').split('e');
  const digits = mant.replace('.', '');
  const point = (mant.indexOf('.') < 0 ? mant.length : mant.indexOf('.')) + Number(expText);
  const body =
    point <= 0
      ? `0.${'0'.repeat(-point)}${digits}`
      : point >= digits.length
        ? digits.padEnd(point, '0')
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (v < 0 ? '-' : '') + body;
}
