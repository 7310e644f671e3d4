/**
 * Turning parsed spans into JavaScript values: unescaping names and strings, numbers, timestamps, and a
 * whole-line decodeLine for tests and tools. The hot path uses only the span helpers it needs.
 */
import { FIELD_BOOL, FIELD_FLOAT, FIELD_INT, FIELD_UINT, LineLayout, parseLine } from './parse';
import { parseFloatSpan } from './go-number';

export { parseFloatSpan };

export type FieldValue = { float: number } | { int: bigint } | { uint: bigint } | { bool: boolean } | { string: string };
export interface DecodedMetric {
  name: string;
  /** Sorted by key (byte order), as the reference decoder and Telegraf hold them. */
  tags: [string, string][];
  fields: [string, FieldValue][];
  /** The timestamp as written (the writer's precision; Telegraf writes nanoseconds), or undefined when absent. */
  time: bigint | undefined;
}

// ignoreBOM keeps a leading U+FEFF: a name is its bytes, nothing stripped (a look-alike device must stay another device).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const SP = 0x20,
  COMMA = 0x2c,
  EQ = 0x3d,
  QUOTE = 0x22,
  BSL = 0x5c;

/** Bytes of buf[start,end) with each backslash that escapes an `isEscaped` byte removed. */
function unescape(buf: Uint8Array, start: number, end: number, isEscaped: (c: number) => boolean): Uint8Array {
  let first = start;
  while (first < end && buf[first] !== BSL) first++;
  if (first === end) return buf.subarray(start, end); // nothing escaped: no copy
  const out = new Uint8Array(end - start);
  let n = 0;
  for (let p = start; p < end; p++) {
    const c = buf[p]!;
    // An escape yields the escaped byte; any other backslash is literal.
    out[n++] = c === BSL && p + 1 < end && isEscaped(buf[p + 1]!) ? buf[++p]! : c;
  }
  return out.subarray(0, n);
}

const keyEscape = (c: number) => c === COMMA || c === EQ || c === SP;
const measurementEscape = (c: number) => c === COMMA || c === SP;
const stringEscape = (c: number) => c === QUOTE || c === BSL;

/**
 * Unescapes a tag key, tag value or field key (`\,` `\=` `\ `). Also right for a measurement unless it
 * contains `\=`, which a measurement keeps verbatim: use decodeMeasurement there.
 */
export function decodeKeyOrTagValue(buf: Uint8Array, start: number, end: number): string {
  return plainAscii(buf, start, end) ? latin1Slice.call(buf, start, end) : utf8.decode(unescape(buf, start, end, keyEscape));
}

/** Unescapes a measurement name (`\,` `\ `). */
export function decodeMeasurement(buf: Uint8Array, start: number, end: number): string {
  return utf8.decode(unescape(buf, start, end, measurementEscape));
}

/** Unescapes string field content (the span inside the quotes): `\"` and `\\`. */
export function decodeStringField(buf: Uint8Array, start: number, end: number): string {
  return plainAscii(buf, start, end) ? latin1Slice.call(buf, start, end) : utf8.decode(unescape(buf, start, end, stringEscape));
}

/** Whether a span is ASCII without backslashes: then its bytes are its text (the usual device name or time). */
function plainAscii(buf: Uint8Array, start: number, end: number): boolean {
  for (let p = start; p < end; p++) if (buf[p]! >= 0x80 || buf[p] === BSL) return false;
  return true;
}

// Node's own one-byte decoder, which takes any Uint8Array: cheaper per call than TextDecoder.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** A FIELD_INT or FIELD_UINT span (without its suffix) or the timestamp span of an accepted line, as a bigint. */
export function parseIntSpan(buf: Uint8Array, start: number, end: number): bigint {
  let text = '';
  for (let p = start; p < end; p++) text += String.fromCharCode(buf[p]!);
  return BigInt(text);
}

/** A FIELD_BOOL span: t, T, true, True, TRUE are true; the parser has already refused anything but the five false forms. */
export function parseBoolSpan(buf: Uint8Array, start: number, _end: number): boolean {
  return (buf[start]! | 0x20) === 0x74;
}

/** Parses one line into a plain object (allocates; not for the hot path). */
export function decodeLine(buf: Uint8Array, start: number, end: number): DecodedMetric | { error: string } {
  const l = new LineLayout();
  const error = parseLine(buf, start, end, l);
  if (error !== null) return { error };

  const tags: { key: Uint8Array; value: string }[] = [];
  for (let t = 0; t < l.tagCount; t++) {
    tags.push({
      key: unescape(buf, l.tagKeyStart[t]!, l.tagKeyEnd[t]!, keyEscape),
      value: decodeKeyOrTagValue(buf, l.tagValueStart[t]!, l.tagValueEnd[t]!),
    });
  }
  tags.sort((a, b) => compareBytes(a.key, b.key));

  const fields: [string, FieldValue][] = [];
  for (let f = 0; f < l.fieldCount; f++) {
    const vs = l.fieldValueStart[f]!,
      ve = l.fieldValueEnd[f]!;
    let value: FieldValue;
    switch (l.fieldType[f]) {
      case FIELD_FLOAT:
        value = { float: parseFloatSpan(buf, vs, ve) };
        break;
      case FIELD_INT:
        value = { int: parseIntSpan(buf, vs, ve) };
        break;
      case FIELD_UINT:
        value = { uint: parseIntSpan(buf, vs, ve) };
        break;
      case FIELD_BOOL:
        value = { bool: parseBoolSpan(buf, vs, ve) };
        break;
      default:
        value = { string: decodeStringField(buf, vs, ve) }; // FIELD_STRING
    }
    fields.push([decodeKeyOrTagValue(buf, l.fieldKeyStart[f]!, l.fieldKeyEnd[f]!), value]);
  }

  return {
    name: decodeMeasurement(buf, l.measurementStart, l.measurementEnd),
    tags: tags.map((t) => [utf8.decode(t.key), t.value]),
    fields,
    time: l.timestampStart < 0 ? undefined : parseIntSpan(buf, l.timestampStart, l.timestampEnd),
  };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
