/**
 * Finds the signed reading inside one parsed metric: device, the signed Time, the Total (as floats,
 * or verbatim text in exact mode) and the signature. Decides the statuses that need no key:
 * `unsigned` and `malformed`. Everything dubious is malformed, never guessed at.
 */
import { signedTime } from '../core/firmware';
import { DEFAULT_FIELD_NAMES, type FieldNames } from '../core/field-names';
import { hexSignature } from '../core/signature';
import { FIELD_FLOAT, FIELD_INT, FIELD_STRING, FIELD_UINT, spanEquals, type LineLayout } from '../core/lineprotocol/parse';
import { decodeKeyOrTagValue, decodeStringField, parseFloatSpan, parseIntSpan } from '../core/lineprotocol/decode';
import { flattenJson, type FlatField } from '../core/payload/json-v1';
import { JsonError, parseJson, type JsonValue } from '../core/payload/json-spans';
import { quoteBracedSignature } from '../core/payload/early-firmware';
import { MAX_PHASES, readSignedPayload, writableField } from '../core/payload/signed-payload';

export interface Candidate {
  readonly status: 'candidate';
  /** Undefined when neither the device tag nor a `tele/<device>/...` topic names one. */
  readonly device: string | undefined;
  readonly time19: string;
  readonly signature: Uint8Array;
  readonly totals: readonly number[];
  readonly asArray: boolean;
  /** Exact mode: the Total exactly as the plug printed it. */
  readonly totalText?: string;
  /** Exact mode: the payload's fields as json v1 would write them, for expansion. */
  readonly payloadFields?: readonly FlatField[];
}

/** `payloadFields` (exact mode) come whatever the verdict, so the payload's fields are always written. */
export type Extraction =
  | { readonly status: 'unsigned'; readonly payloadFields?: readonly FlatField[] }
  | { readonly status: 'malformed'; readonly reason: string; readonly payloadFields?: readonly FlatField[] }
  | Candidate;

const enc = (s: string) => new TextEncoder().encode(s);

/** Matches field and tag names against the configured ones without allocating strings per line. */
export class ReadingExtractor {
  private readonly n: Record<'deviceTag' | 'topicTag' | 'signature' | 'time' | 'total' | 'payload', Uint8Array>;
  private readonly phasePrefix: Uint8Array;
  private readonly phases: number[] = [];
  /** Strings json v1 keeps, per telegraf.conf's json_string_fields. */
  private readonly keepStrings: ReadonlySet<string>;

  constructor(private readonly names: FieldNames = DEFAULT_FIELD_NAMES) {
    this.keepStrings = new Set([names.signature, names.time]);
    this.n = {
      deviceTag: enc(names.deviceTag),
      topicTag: enc(names.topicTag),
      signature: enc(names.signature),
      time: enc(names.time),
      total: enc(names.total),
      payload: enc(names.payload),
    };
    this.phasePrefix = enc(`${names.total}_`);
  }

  extract(buf: Uint8Array, l: LineLayout): Extraction {
    let sig = -1,
      time = -1,
      total = -1,
      payload = -1,
      phaseCount = 0;
    const phases = this.phases;
    phases.length = 0;
    for (let f = 0; f < l.fieldCount; f++) {
      const ks = l.fieldKeyStart[f]!,
        ke = l.fieldKeyEnd[f]!;
      const slot = this.fieldSlot(buf, ks, ke);
      if (slot === 'phase') {
        const idx = phaseIndex(buf, ks + this.phasePrefix.length, ke);
        if (idx < 0) continue;
        if (idx >= MAX_PHASES) return malformed(`more than ${MAX_PHASES} ${this.names.total} phases`);
        if (phases[idx] !== undefined) return malformed(`duplicate field ${this.names.total}_${idx}`);
        phases[idx] = f;
        phaseCount++;
      } else if (slot !== undefined) {
        const prev = slot === 'sig' ? sig : slot === 'time' ? time : slot === 'total' ? total : payload;
        if (prev >= 0) return malformed(`duplicate field ${decodeKeyOrTagValue(buf, ks, ke)}`);
        if (slot === 'sig') sig = f;
        else if (slot === 'time') time = f;
        else if (slot === 'total') total = f;
        else payload = f;
      }
    }

    if (sig < 0 && payload >= 0 && l.fieldType[payload] === FIELD_STRING) return this.exact(buf, l, payload, time, total, phaseCount);
    if (sig < 0) return { status: 'unsigned' };
    if (l.fieldType[sig] !== FIELD_STRING) return malformed(`${this.names.signature} is not a string field`);
    const signature = hexSignature(buf, l.fieldValueStart[sig]!, l.fieldValueEnd[sig]!);
    if (!signature) return malformed(`${this.names.signature} is not 128 hex digits`);
    if (time < 0 || l.fieldType[time] !== FIELD_STRING) return malformed(`${this.names.time} string field is missing`);
    const timeText = decodeStringField(buf, l.fieldValueStart[time]!, l.fieldValueEnd[time]!);
    const time19 = signedTime(timeText);
    if (!time19) return malformed(`${this.names.time} "${timeText.slice(0, 40)}" is not a date and time`);

    let totals: number[];
    let asArray: boolean;
    if (total >= 0) {
      if (phaseCount > 0) return malformed(`both ${this.names.total} and ${this.names.total}_N are present`);
      totals = [numberField(buf, l, total)];
      asArray = false;
    } else if (phaseCount > 0) {
      if (phaseCount !== phases.length) return malformed(`${this.names.total}_N phases are not numbered 0..${phaseCount - 1}`);
      totals = phases.map((f) => numberField(buf, l, f));
      asArray = true;
    } else return malformed(`${this.names.total} is missing`);
    if (totals.some(Number.isNaN)) return malformed(`${this.names.total} is not a number field`);
    return { status: 'candidate', device: this.device(buf, l), time19, signature, totals, asArray };
  }

  private fieldSlot(buf: Uint8Array, ks: number, ke: number): 'sig' | 'time' | 'total' | 'payload' | 'phase' | undefined {
    const n = this.n;
    if (spanEquals(buf, ks, ke, n.signature)) return 'sig';
    if (spanEquals(buf, ks, ke, n.time)) return 'time';
    if (spanEquals(buf, ks, ke, n.total)) return 'total';
    if (spanEquals(buf, ks, ke, n.payload)) return 'payload';
    const p = this.phasePrefix;
    if (ke - ks > p.length && spanEquals(buf, ks, ks + p.length, p)) return 'phase';
    return undefined;
  }

  /** `time`, `total` and the phases: the line's own fields of those names, beside the payload (-1 or 0: none). */
  private exact(buf: Uint8Array, l: LineLayout, f: number, time: number, total: number, phaseCount: number): Extraction {
    const text = quoteBracedSignature(decodeStringField(buf, l.fieldValueStart[f]!, l.fieldValueEnd[f]!));
    let root: JsonValue;
    try {
      root = parseJson(text);
    } catch (e) {
      if (e instanceof JsonError)
        return text.trimStart().startsWith('{') ? malformed(`payload is not valid JSON: ${e.message}`) : { status: 'unsigned' };
      throw e;
    }
    if (root.kind !== 'object') return { status: 'unsigned' };
    const flat = flattenJson(root, this.keepStrings);
    // Written out whatever the verdict, as json v1 would; a name that would not be written as it reads never is.
    const payloadFields = writable(flat);
    const r = readSignedPayload(text, root, flat, this.names);
    if (r.status === 'unsigned') return { status: 'unsigned', payloadFields };
    if (r.status === 'malformed') return malformed(r.reason, payloadFields);
    const clash = this.lineDisagrees(buf, l, r, time, total, phaseCount);
    if (clash) return malformed(clash, payloadFields);
    return {
      status: 'candidate',
      device: this.device(buf, l),
      time19: r.time19,
      signature: hexSignature(enc(r.signatureText), 0, 128)!,
      totals: r.totals,
      asArray: r.asArray,
      totalText: r.totalText,
      payloadFields,
    };
  }

  /**
   * A signed quantity (Time, the Total, its phases) that the line already carries beside the payload
   * must be what the payload says: the line keeps its own fields, so a verified row would otherwise
   * store an unsigned value under a signed name.
   */
  private lineDisagrees(
    buf: Uint8Array,
    l: LineLayout,
    r: { readonly timeText: string; readonly totals: readonly number[]; readonly asArray: boolean },
    time: number,
    total: number,
    phaseCount: number,
  ): string | undefined {
    const { time: timeName, total: totalName } = this.names;
    if (
      time >= 0 &&
      (l.fieldType[time] !== FIELD_STRING || decodeStringField(buf, l.fieldValueStart[time]!, l.fieldValueEnd[time]!) !== r.timeText)
    )
      return `the line's ${timeName} field differs from the payload's`;
    if (total >= 0 && (r.asArray || numberField(buf, l, total) !== r.totals[0]))
      return `the line's ${totalName} field differs from the payload's`;
    if (phaseCount > 0) {
      if (!r.asArray) return `the line has ${totalName}_N fields beside a single payload Total`;
      for (let i = 0; i < this.phases.length; i++) {
        const f = this.phases[i];
        if (f !== undefined && numberField(buf, l, f) !== r.totals[i])
          return `the line's ${totalName}_${i} field differs from the payload's`;
      }
    }
    return undefined;
  }

  private device(buf: Uint8Array, l: LineLayout): string | undefined {
    let topic = -1;
    for (let t = 0; t < l.tagCount; t++) {
      const ks = l.tagKeyStart[t]!,
        ke = l.tagKeyEnd[t]!;
      if (spanEquals(buf, ks, ke, this.n.deviceTag)) return decodeKeyOrTagValue(buf, l.tagValueStart[t]!, l.tagValueEnd[t]!);
      if (spanEquals(buf, ks, ke, this.n.topicTag)) topic = t;
    }
    if (topic < 0) return undefined;
    // As the reference validator does: tele/<device>/SENSOR.
    const seg = decodeKeyOrTagValue(buf, l.tagValueStart[topic]!, l.tagValueEnd[topic]!).split('/')[1];
    return seg ? seg : undefined;
  }
}

const malformed = (reason: string, payloadFields?: readonly FlatField[]) =>
  ({ status: 'malformed', reason, ...(payloadFields && { payloadFields }) }) as const;

/** The fields that may be written: names that read as they are written, each once (a repeated name not at all). */
function writable(fields: readonly FlatField[]): FlatField[] {
  const count = new Map<string, number>();
  for (const [k] of fields) count.set(k, (count.get(k) ?? 0) + 1);
  return fields.filter(([k]) => count.get(k) === 1 && writableField(k));
}

function phaseIndex(buf: Uint8Array, s: number, e: number): number {
  if (e - s > 3 || (buf[s] === 0x30 && e - s > 1)) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i]! - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function numberField(buf: Uint8Array, l: LineLayout, f: number): number {
  const t = l.fieldType[f];
  if (t === FIELD_FLOAT) return parseFloatSpan(buf, l.fieldValueStart[f]!, l.fieldValueEnd[f]!);
  // Telegraf sends a uint as `1500u` where the output supports it; read it like `1500i`.
  if (t === FIELD_INT || t === FIELD_UINT) {
    const v = Number(parseIntSpan(buf, l.fieldValueStart[f]!, l.fieldValueEnd[f]!));
    return Number.isSafeInteger(v) ? v : NaN;
  }
  return NaN;
}
