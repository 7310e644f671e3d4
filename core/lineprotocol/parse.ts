/**
 * Single-line InfluxDB line-protocol parser. It records byte offsets into a reusable LineLayout and
 * creates no strings, so the steady state allocates nothing.
 *
 * The grammar, character classes, escapes and number syntax follow influxdata's reference decoder
 * (github.com/influxdata/line-protocol/v2, package lineprotocol), which produced the corpus in
 * test/vectors/line-protocol-corpus. In short:
 *   line        = ' '* measurement (',' tagKey '=' tagValue)* ' '+ field (',' field)* [' '+ [timestamp]] ' '* ['\r']
 *   measurement   stops at ',' ' ' and control bytes; `\,` `\ ` are escapes
 *   keys          stop at ',' '=' ' ' and control bytes; `\,` `\=` `\ ` are escapes
 *   tag values    the same, but of control bytes only CR and LF stop them (as in the corpus)
 *   string field  "…" with `\"` `\\` escapes; anything else, raw newlines included, is content
 * A backslash before any other byte is kept as a literal backslash. Names and strings must be UTF-8.
 */
import { floatOk, intInRange, isDigit } from './go-number';

export const FIELD_FLOAT = 0,
  FIELD_INT = 1,
  FIELD_UINT = 2,
  FIELD_BOOL = 3,
  FIELD_STRING = 4;
export type FieldType = 0 | 1 | 2 | 3 | 4;

/** What parseLine returns (by identity) for a blank or comment line, which the caller passes through. */
export const BLANK_OR_COMMENT = 'blank or comment line';

const SP = 0x20,
  CR = 0x0d,
  LF = 0x0a,
  COMMA = 0x2c,
  EQ = 0x3d,
  QUOTE = 0x22,
  BSL = 0x5c,
  HASH = 0x23,
  MINUS = 0x2d;

// Byte classes, one bit per question the scanners ask.
const MEAS_STOP = 1,
  KEY_STOP = 2,
  TAG_VALUE_STOP = 4,
  VALUE_STOP = 8,
  MEAS_ESC = 16,
  KEY_ESC = 32,
  BACKSLASH = 64,
  STRING_STOP = 128;
const CLASS = new Uint8Array(256);
const mark = (bytes: Iterable<number>, bits: number) => {
  for (const c of bytes) CLASS[c] = CLASS[c]! | bits;
};
mark([...Array(32).keys(), 0x7f], MEAS_STOP | KEY_STOP); // control bytes end measurements and keys
mark([COMMA, SP], MEAS_STOP | KEY_STOP | TAG_VALUE_STOP | MEAS_ESC | KEY_ESC);
mark([EQ], KEY_STOP | TAG_VALUE_STOP | KEY_ESC);
// Tag values may hold control bytes other than CR and LF: the corpus' reference accepts them.
mark([CR, LF], TAG_VALUE_STOP);
mark([COMMA, SP, CR, LF], VALUE_STOP);
mark([BSL], BACKSLASH | STRING_STOP);
mark([QUOTE], STRING_STOP);

/** Byte offsets of one parsed line, reused across lines so the steady state allocates nothing. Offsets index the buffer given to parseLine. */
export class LineLayout {
  /** Start of the measurement name (after any leading spaces, which the protocol allows). */
  measurementStart = 0;
  /** End of the (escaped) measurement name. */
  measurementEnd = 0;
  tagCount = 0;
  tagKeyStart = new Int32Array(8);
  tagKeyEnd = new Int32Array(8);
  tagValueStart = new Int32Array(8);
  tagValueEnd = new Int32Array(8);
  /** Where new tags are inserted: right after the last tag value (== measurementEnd if no tags). */
  tagSetEnd = 0;
  fieldCount = 0;
  fieldKeyStart = new Int32Array(16);
  fieldKeyEnd = new Int32Array(16);
  /** For strings: inside the quotes (still escaped); for ints and uints: without the i/u suffix. */
  fieldValueStart = new Int32Array(16);
  fieldValueEnd = new Int32Array(16);
  fieldType = new Uint8Array(16);
  /** Where new fields are inserted: right after the last field value (after the closing quote or suffix). */
  fieldSetEnd = 0;
  /** -1, -1 when the line has no timestamp. */
  timestampStart = -1;
  timestampEnd = -1;
  /**
   * After an error: where the reference decoder's read position was when it gave up. It skips to the
   * first '\n' at or after this point, which the splitter uses to resynchronise exactly as it does.
   */
  errorPos = -1;

  reset(): void {
    this.measurementStart = this.measurementEnd = this.tagSetEnd = this.fieldSetEnd = 0;
    this.tagCount = this.fieldCount = 0;
    this.timestampStart = this.timestampEnd = this.errorPos = -1;
  }

  addTag(ks: number, ke: number, vs: number, ve: number): void {
    const i = this.tagCount++;
    if (i === this.tagKeyStart.length) {
      this.tagKeyStart = grow(this.tagKeyStart);
      this.tagKeyEnd = grow(this.tagKeyEnd);
      this.tagValueStart = grow(this.tagValueStart);
      this.tagValueEnd = grow(this.tagValueEnd);
    }
    this.tagKeyStart[i] = ks;
    this.tagKeyEnd[i] = ke;
    this.tagValueStart[i] = vs;
    this.tagValueEnd[i] = ve;
  }

  addField(ks: number, ke: number, vs: number, ve: number, type: FieldType): void {
    const i = this.fieldCount++;
    if (i === this.fieldKeyStart.length) {
      this.fieldKeyStart = grow(this.fieldKeyStart);
      this.fieldKeyEnd = grow(this.fieldKeyEnd);
      this.fieldValueStart = grow(this.fieldValueStart);
      this.fieldValueEnd = grow(this.fieldValueEnd);
      const types = new Uint8Array(this.fieldType.length * 2);
      types.set(this.fieldType);
      this.fieldType = types;
    }
    this.fieldKeyStart[i] = ks;
    this.fieldKeyEnd[i] = ke;
    this.fieldValueStart[i] = vs;
    this.fieldValueEnd[i] = ve;
    this.fieldType[i] = type;
  }
}

function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** True for a line the reference decoder skips: only spaces, or spaces then a '#' comment of printable bytes; a final '\r' (of CRLF) is allowed. */
export function isCommentOrBlank(buf: Uint8Array, start: number, end: number): boolean {
  let p = start;
  while (p < end && buf[p] === SP) p++;
  if (p === end || (buf[p] === CR && p + 1 === end)) return true;
  if (buf[p] !== HASH) return false;
  for (p++; p < end; p++) {
    const c = buf[p]!;
    if (c < 0x20 || c === 0x7f) return c === CR && p + 1 === end;
  }
  return true;
}

/**
 * Parses buf[start, end) (no trailing newline). Returns null when valid, BLANK_OR_COMMENT for a line to
 * pass through untouched, else a short human error message. Never throws.
 */
export function parseLine(buf: Uint8Array, start: number, end: number, out: LineLayout): string | null {
  out.reset();
  if (isCommentOrBlank(buf, start, end)) return BLANK_OR_COMMENT;
  let p = start;
  while (p < end && buf[p] === SP) p++;
  if (buf[p] === HASH) return failAt(out, p, 'invalid character in comment line');

  p = scanHead(buf, start, end, out);
  if (p < 0) return lastError;
  for (;;) {
    p = scanField(buf, p, end, out);
    if (p < 0) return lastError;
    if (p === end) break;
    const c = buf[p]!;
    if (c === COMMA) {
      p++;
      continue;
    }
    if (c !== SP && c !== CR && c !== LF)
      return failAt(out, p, `unexpected character ${showByte(c)} after field ${lastFieldKey(buf, out)}`);
    break;
  }
  out.fieldSetEnd = p;

  while (p < end && buf[p] === SP) p++;
  if (!atEol(buf, p, end)) {
    const ts = p;
    while (p < end && (isDigit(buf[p]!) || buf[p] === MINUS)) p++;
    if (p === ts || (p < end && buf[p] !== SP && buf[p] !== CR && buf[p] !== LF))
      return failAt(out, ts, `invalid timestamp ${showSpan(buf, ts, end)}`);
    if (!intInRange(buf, ts, p, true)) return failAt(out, ts, `invalid timestamp ${showSpan(buf, ts, p)}`);
    out.timestampStart = ts;
    out.timestampEnd = p;
    while (p < end && buf[p] === SP) p++;
    if (!atEol(buf, p, end)) return failAt(out, p, `unexpected text after timestamp ${showSpan(buf, p, end)}`);
  }
  const dup = duplicateTag(buf, out);
  // Duplicate keys are the reference's check on the whole metric; its decoder still reads the line through.
  return dup < 0 ? null : failAt(out, end, `duplicate tag key ${showSpan(buf, out.tagKeyStart[dup]!, out.tagKeyEnd[dup]!)}`);
}

/** True when buf[start,end) equals the ASCII/UTF-8 bytes of `name` (precomputed Uint8Array), for matching keys without allocating. */
export function spanEquals(buf: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[start + i] !== name[i]) return false;
  return true;
}

// The scanners below report failure by returning -1 after fail() has stored the message here and the
// position in out.errorPos; a module variable keeps the success path free of result objects.
let lastError = '';
/** Whether the last scanEscaped/scanString saw a byte >= 0x80 (so UTF-8 needs checking). */
let scanHigh = false;

function fail(out: LineLayout, pos: number, message: string): -1 {
  lastError = message;
  out.errorPos = pos;
  return -1;
}

function failAt(out: LineLayout, pos: number, message: string): string {
  fail(out, pos, message);
  return message;
}

/**
 * Measurement and tags, then the spaces before the fields. Returns the position of the first field
 * key, or -1. Exported for the splitter, which checks line prefixes with it.
 */
export function scanHead(buf: Uint8Array, start: number, end: number, out: LineLayout): number {
  let p = start;
  while (p < end && buf[p] === SP) p++;
  const ms = p;
  p = scanEscaped(buf, p, end, MEAS_STOP, MEAS_ESC);
  if (p === ms)
    return fail(out, p, p < end ? `invalid character ${showByte(buf[p]!)} at start of measurement name` : 'no measurement name found');
  if (scanHigh && !validUtf8(buf, ms, p)) return fail(out, p, `invalid UTF-8 in measurement ${showSpan(buf, ms, p)}`);
  out.measurementStart = ms;
  out.measurementEnd = out.tagSetEnd = p;
  if (p < end && buf[p] === COMMA && (p = tagComma(buf, p, end, out)) < 0) return -1;

  // Tags until the space before the fields. A line ending here fails at the fields, like the reference.
  while (p === end || buf[p] !== SP) {
    const ks = p;
    p = scanEscaped(buf, p, end, KEY_STOP, KEY_ESC);
    if (p === ks || p === end || buf[p] !== EQ) {
      if (p === ks) {
        if (p === end) return fail(out, p, 'expected tag key or field but found end of input');
        return fail(out, p, buf[p] === EQ ? 'empty tag key' : `expected tag key or field but found ${showByte(buf[p]!)}`);
      }
      return fail(out, p, `expected '=' after tag key ${showSpan(buf, ks, p)}, but got ${p === end ? 'end of input' : showByte(buf[p]!)}`);
    }
    if (scanHigh && !validUtf8(buf, ks, p)) return fail(out, p, `invalid UTF-8 in tag key ${showSpan(buf, ks, p)}`);
    const vs = p + 1;
    p = scanEscaped(buf, vs, end, TAG_VALUE_STOP, KEY_ESC);
    if (p === vs) return fail(out, p, `expected tag value after tag key ${showSpan(buf, ks, vs - 1)}, but none found`);
    if (scanHigh && !validUtf8(buf, vs, p)) return fail(out, p, `invalid UTF-8 in tag value ${showSpan(buf, vs, p)}`);
    out.addTag(ks, vs - 1, vs, p);
    out.tagSetEnd = p;
    if (p === end) break;
    if (buf[p] === COMMA && (p = tagComma(buf, p, end, out)) < 0) return -1;
  }
  while (p < end && buf[p] === SP) p++;
  return p;
}

/** A comma after the measurement or a tag value must be followed by a tag key. */
function tagComma(buf: Uint8Array, p: number, end: number, out: LineLayout): number {
  p++;
  if (p === end) return fail(out, p, 'expected tag key after comma; got end of input');
  const c = buf[p];
  if (c === SP || c === CR || c === LF) return fail(out, p, 'expected tag key after comma; got white space instead');
  return p;
}

/** A field key and its '='. Returns the position of the value, or -1. Exported for the splitter. */
export function scanFieldKey(buf: Uint8Array, p: number, end: number, out: LineLayout): number {
  const ks = p;
  p = scanEscaped(buf, p, end, KEY_STOP, KEY_ESC);
  if (p === ks)
    return fail(
      out,
      p,
      p === end ? 'expected field key but none found' : `invalid character ${showByte(buf[p]!)} found at start of field key`,
    );
  if (scanHigh && !validUtf8(buf, ks, p)) return fail(out, p, `invalid UTF-8 in field key ${showSpan(buf, ks, p)}`);
  if (p === end || buf[p] !== EQ) {
    return fail(out, p, `want '=' after field key ${showSpan(buf, ks, p)}, found ${p === end ? 'end of input' : showByte(buf[p]!)}`);
  }
  p++;
  if (p === end) return fail(out, p, `expected value for field ${showSpan(buf, ks, p - 1)}, found end of input`);
  return p;
}

/** One key=value field, value checked. Returns the position just after the value, or -1. Exported for the splitter. */
export function scanField(buf: Uint8Array, ks: number, end: number, out: LineLayout): number {
  let p = scanFieldKey(buf, ks, end, out);
  if (p < 0) return -1;
  const ke = p - 1;
  const c = buf[p]!;
  if (c === QUOTE) {
    const vs = p + 1;
    p = scanString(buf, vs, end);
    if (p === end) return fail(out, end, `expected closing quote for string field ${showSpan(buf, ks, ke)}, found end of input`);
    if (scanHigh && !validUtf8(buf, vs, p)) return fail(out, p, `invalid UTF-8 in string field ${showSpan(buf, ks, ke)}`);
    out.addField(ks, ke, vs, p, FIELD_STRING);
    return p + 1;
  }
  const vs = p;
  while (p < end && !(CLASS[buf[p]!]! & VALUE_STOP)) p++;
  if (p === vs) return fail(out, p, `missing field value for field ${showSpan(buf, ks, ke)}`);
  let type: FieldType;
  let ve = p;
  if (c === 0x74 || c === 0x54 || c === 0x66 || c === 0x46) {
    if (!isBool(buf, vs, p)) return fail(out, p, `invalid bool value ${showSpan(buf, vs, p)} for field ${showSpan(buf, ks, ke)}`);
    type = FIELD_BOOL;
  } else if (isDigit(c) || c === MINUS || c === 0x2e) {
    const last = buf[p - 1];
    if (last === 0x69 || last === 0x75) {
      type = last === 0x69 ? FIELD_INT : FIELD_UINT;
      ve = p - 1;
      if (!intInRange(buf, vs, ve, type === FIELD_INT)) {
        return fail(
          out,
          p,
          `invalid ${type === FIELD_INT ? 'integer' : 'unsigned integer'} ${showSpan(buf, vs, p)} for field ${showSpan(buf, ks, ke)}`,
        );
      }
    } else {
      type = FIELD_FLOAT;
      if (!floatOk(buf, vs, p)) return fail(out, p, `invalid float ${showSpan(buf, vs, p)} for field ${showSpan(buf, ks, ke)}`);
    }
  } else {
    return fail(out, p, `value for field ${showSpan(buf, ks, ke)} (${showSpan(buf, vs, p)}) has unrecognized type`);
  }
  out.addField(ks, ke, vs, ve, type);
  return p;
}

/** End of a name token: stops at a `stop` byte unless a backslash escapes it (only `esc` bytes can be escaped). */
function scanEscaped(buf: Uint8Array, p: number, end: number, stop: number, esc: number): number {
  let high = 0;
  const special = stop | BACKSLASH; // one table test per ordinary byte
  while (p < end) {
    const c = buf[p]!;
    if (CLASS[c]! & special) {
      if (c !== BSL) break;
      p += p + 1 < end && CLASS[buf[p + 1]!]! & esc ? 2 : 1;
      continue;
    }
    high |= c;
    p++;
  }
  scanHigh = high >= 0x80;
  return p;
}

/** Position of the closing quote of a string field whose content starts at p, or end if there is none. */
function scanString(buf: Uint8Array, p: number, end: number): number {
  let high = 0;
  while (p < end) {
    const c = buf[p]!;
    if (CLASS[c]! & STRING_STOP) {
      if (c === QUOTE) break;
      p += p + 1 < end && CLASS[buf[p + 1]!]! & STRING_STOP ? 2 : 1; // `\"` or `\\`
      continue;
    }
    high |= c;
    p++;
  }
  scanHigh = high >= 0x80;
  return p;
}

function atEol(buf: Uint8Array, p: number, end: number): boolean {
  return p === end || (buf[p] === CR && p + 1 === end);
}

const BOOLS = ['t', 'T', 'true', 'True', 'TRUE', 'f', 'F', 'false', 'False', 'FALSE'].map((s) => new TextEncoder().encode(s));

function isBool(buf: Uint8Array, s: number, e: number): boolean {
  for (const b of BOOLS) if (spanEquals(buf, s, e, b)) return true;
  return false;
}

/** Strict UTF-8 as Go's utf8.Valid: no overlong forms, surrogates or code points above U+10FFFF. */
function validUtf8(buf: Uint8Array, p: number, end: number): boolean {
  while (p < end) {
    const c = buf[p]!;
    if (c < 0x80) {
      p++;
      continue;
    }
    let n: number,
      lo = 0x80,
      hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return false;
    if (p + n >= end) return false;
    const c1 = buf[p + 1]!;
    if (c1 < lo || c1 > hi) return false;
    for (let i = 2; i <= n; i++) {
      const ci = buf[p + i]!;
      if (ci < 0x80 || ci > 0xbf) return false;
    }
    p += n + 1;
  }
  return true;
}

/** Index of a tag whose key repeats another's, or -1. Escaping is one-to-one, so raw bytes compare. */
function duplicateTag(buf: Uint8Array, l: LineLayout): number {
  let sorted = true;
  for (let i = 1; i < l.tagCount && sorted; i++) sorted = compareTagKeys(buf, l, i - 1, i) < 0;
  if (sorted) return -1; // Telegraf sends tags sorted, and strictly increasing keys cannot repeat
  if (l.tagCount <= 32) {
    for (let i = 1; i < l.tagCount; i++) for (let j = 0; j < i; j++) if (compareTagKeys(buf, l, j, i) === 0) return i;
    return -1;
  }
  const order = Array.from({ length: l.tagCount }, (_, i) => i).sort((i, j) => compareTagKeys(buf, l, i, j));
  for (let i = 1; i < order.length; i++) if (compareTagKeys(buf, l, order[i - 1]!, order[i]!) === 0) return order[i]!;
  return -1;
}

function compareTagKeys(buf: Uint8Array, l: LineLayout, i: number, j: number): number {
  return compareSpans(buf, l.tagKeyStart[i]!, l.tagKeyEnd[i]!, l.tagKeyStart[j]!, l.tagKeyEnd[j]!);
}

function compareSpans(buf: Uint8Array, as: number, ae: number, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs);
  for (let i = 0; i < n; i++) {
    const d = buf[as + i]! - buf[bs + i]!;
    if (d !== 0) return d;
  }
  return ae - as - (be - bs);
}

// ---- Error text (only built on the error path). ----

const textDecoder = new TextDecoder();

function showSpan(buf: Uint8Array, s: number, e: number): string {
  const clipped = e - s > 40;
  return JSON.stringify(textDecoder.decode(buf.subarray(s, clipped ? s + 40 : e)) + (clipped ? '…' : ''));
}

function showByte(c: number): string {
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

function lastFieldKey(buf: Uint8Array, l: LineLayout): string {
  const i = l.fieldCount - 1;
  return showSpan(buf, l.fieldKeyStart[i]!, l.fieldKeyEnd[i]!);
}
