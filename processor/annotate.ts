/**
 * Writes a metric back with meterproof's tags and field added. Bytes are copied as they came; only
 * the two tags and `signed_message` are inserted. Incoming tags or fields under those names are
 * dropped, since a verdict is only meterproof's to give.
 */
import { SIGNED_MESSAGE_FIELD, STATUS_TAG, VERIFIED_TAG, VERIFY_STATUSES, type VerifyStatus } from '../core/status';
import { escapeFieldKey, escapeStringField, formatFieldValue } from '../core/lineprotocol/encode';
import { spanEquals, type LineLayout } from '../core/lineprotocol/parse';
import type { OutputBuffer } from './output';

const enc = (s: string) => new TextEncoder().encode(s);
// Incoming tags or fields under any of these names are dropped: a tag and a field of one name would
// make InfluxQL's `"verified" = 'true'` read the field.
const RESERVED_NAMES = [VERIFIED_TAG, STATUS_TAG, SIGNED_MESSAGE_FIELD];
const RESERVED = RESERVED_NAMES.map(enc);
/** RESERVED_FIRST[byte] is 1 when a reserved name starts with that byte. */
const RESERVED_FIRST = new Uint8Array(256);
for (const name of RESERVED) RESERVED_FIRST[name[0]!] = 1;
// Checked for every tag and field of every metric: most names are out at the first byte.
const reserved = (buf: Uint8Array, s: number, e: number) =>
  RESERVED_FIRST[buf[s]!] === 1 && RESERVED.some((name) => spanEquals(buf, s, e, name));
const TAG_TEXT = Object.fromEntries(VERIFY_STATUSES.map((s) => [s, `,${VERIFIED_TAG}=${s === 'ok'},${STATUS_TAG}=${s}`])) as Record<
  VerifyStatus,
  string
>;
const SIGNED_MESSAGE_PREFIX = `,${SIGNED_MESSAGE_FIELD}="`;

export type ExtraField = readonly [key: string, value: number | string | boolean];

/** Whether the metric carries a tag or field under a name meterproof writes (rare: then it is rewritten). */
export function hasReservedNames(buf: Uint8Array, l: LineLayout): boolean {
  for (let t = 0; t < l.tagCount; t++) if (reserved(buf, l.tagKeyStart[t]!, l.tagKeyEnd[t]!)) return true;
  for (let f = 0; f < l.fieldCount; f++) if (reserved(buf, l.fieldKeyStart[f]!, l.fieldKeyEnd[f]!)) return true;
  return false;
}

/**
 * The common case, needing only two offsets: the metric has no reserved names, so the tags go in at
 * `tagSetEnd` and the fields at `fieldSetEnd` (the metric has at least one field).
 */
export function writeInserted(
  out: OutputBuffer,
  buf: Uint8Array,
  start: number,
  end: number,
  tagSetEnd: number,
  fieldSetEnd: number,
  status: VerifyStatus,
  signedMessage: string | undefined,
  extraFields: readonly ExtraField[],
): void {
  out.bytes(buf, start, tagSetEnd);
  out.ascii(TAG_TEXT[status]);
  out.bytes(buf, tagSetEnd, fieldSetEnd);
  writeFields(out, extraFields, signedMessage, false);
  out.bytes(buf, fieldSetEnd, end);
  out.byte(0x0a);
}

function writeFields(out: OutputBuffer, extraFields: readonly ExtraField[], signedMessage: string | undefined, first: boolean): void {
  for (const [key, value] of extraFields) {
    out.utf8(
      `${first ? '' : ','}${escapeFieldKey(key)}=${typeof value === 'string' ? `"${escapeStringField(value)}"` : formatFieldValue(value)}`,
    );
    first = false;
  }
  if (signedMessage !== undefined) {
    out.ascii(first ? SIGNED_MESSAGE_PREFIX.slice(1) : SIGNED_MESSAGE_PREFIX);
    out.fieldText(signedMessage);
    out.byte(0x22);
  }
}

/** The general case: drops incoming tags and fields under meterproof's names, then inserts. */
export function writeAnnotated(
  out: OutputBuffer,
  buf: Uint8Array,
  start: number,
  end: number,
  l: LineLayout,
  status: VerifyStatus,
  signedMessage: string | undefined,
  extraFields: readonly ExtraField[] = [],
): void {
  // Tags, minus any incoming verdict tags.
  let cursor = start;
  for (let t = 0; t < l.tagCount; t++) {
    const ks = l.tagKeyStart[t]!;
    if (reserved(buf, ks, l.tagKeyEnd[t]!)) {
      out.bytes(buf, cursor, ks - 1); // up to the comma before this tag
      cursor = l.tagValueEnd[t]!;
    }
  }
  out.bytes(buf, cursor, l.tagSetEnd);
  out.ascii(TAG_TEXT[status]);

  // Fields, minus reserved names, always: a line left with none gets the placeholder field.
  const dropped = (f: number) => reserved(buf, l.fieldKeyStart[f]!, l.fieldKeyEnd[f]!);
  let kept = 0;
  if (!hasField(l, dropped)) {
    out.bytes(buf, l.tagSetEnd, l.fieldSetEnd);
    kept = l.fieldCount;
  } else {
    out.bytes(buf, l.tagSetEnd, l.fieldKeyStart[0]!);
    for (let f = 0; f < l.fieldCount; f++) {
      if (dropped(f)) continue;
      if (kept++ > 0) out.byte(0x2c);
      out.bytes(buf, l.fieldKeyStart[f]!, f + 1 < l.fieldCount ? l.fieldKeyStart[f + 1]! - 1 : l.fieldSetEnd);
    }
  }
  if (kept === 0 && signedMessage === undefined && extraFields.length === 0) out.ascii(PLACEHOLDER_FIELD);
  else writeFields(out, extraFields, signedMessage, kept === 0);
  out.bytes(buf, l.fieldSetEnd, end);
  out.byte(0x0a);
}

/**
 * Written when a metric's only fields were reserved names (line protocol needs at least one field):
 * it says what happened, and no query reads it by accident.
 */
export const PLACEHOLDER_FIELD = 'meterproof_dropped_reserved=true';

function hasField(l: LineLayout, test: (f: number) => boolean): boolean {
  for (let f = 0; f < l.fieldCount; f++) if (test(f)) return true;
  return false;
}
