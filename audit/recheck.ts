/**
 * Re-checks one stored row against the key registry, independently of the verdict stored with it.
 * A row is *proven* when its Signature verifies, under a key valid at its signed Time, a message
 * that is exactly what the row shows (its Time and Total fields, or its raw payload in exact mode).
 * The audit can re-check signatures only: it cannot tell a replay or a rollback from a fresh
 * reading, because ordering is judged by the processor as readings arrive.
 */
import { exactDecimalCounts, formatTotal, signedMessage, signedTime } from '../core/firmware';
import { keysValidAt, type KeyEntry, type KeyFile } from '../core/keyfile';
import { SIGNED_MESSAGE_FIELD, STATUS_TAG, VERIFIED_TAG } from '../core/status';
import type { SignatureVerifier } from '../core/node/verifier';
import { flattenJson } from '../core/payload/json-v1';
import { JsonError, parseJson, type JsonValue } from '../core/payload/json-spans';
import { readSignedPayload } from '../core/payload/signed-payload';
import { DEFAULT_FIELD_NAMES } from '../core/field-names';
import { hexSignature } from '../core/signature';
import { runSignatureJob } from '../core/node/signature-job';

export type DisagreementKind =
  /** Stored `verified=true`, but the signature does not prove the row. */
  | 'forged_verified'
  /** Stored `verified=false` (not as a replay or rollback), but the signature proves the row now. */
  | 'rejected_but_valid'
  /** `signed_message` is not what the row's Time and Total fields say. */
  | 'message_mismatch';

export const DISAGREEMENT_KINDS: readonly DisagreementKind[] = ['forged_verified', 'rejected_but_valid', 'message_mismatch'];

export interface RowCheck {
  readonly device: string;
  /** The stored `verified` tag; undefined when the row never passed through the processor. */
  readonly storedVerified: boolean | undefined;
  /** The stored `verify_status` tag. */
  readonly status?: string;
  readonly signed: boolean;
  readonly proven: boolean;
  /** When proven: the signed text and the key that verified it. */
  readonly proof?: Proof;
  readonly disagreement?: { readonly kind: DisagreementKind; readonly detail: string };
}

export interface Proof {
  /** `time19,Total` exactly as signed. */
  readonly message: string;
  readonly key: KeyEntry;
}

/** Statuses whose signature is valid by design: the processor rejected them for their order. */
const ORDER_STATUSES = new Set(['replay', 'rollback']);
export const NO_DEVICE = '(no device)';

const names = DEFAULT_FIELD_NAMES;
const KEEP_STRINGS = new Set([names.signature, names.time]);

/** Where the columns the audit reads sit in one page's rows. */
export class RowLayout {
  readonly time: number;
  readonly device: number;
  readonly topic: number;
  readonly verified: number;
  readonly status: number;
  readonly signature: number;
  readonly timeField: number;
  readonly total: number;
  /** Column of `ENERGY_Total_<i>` at index i; -1 for a missing phase. */
  readonly phases: readonly number[];
  readonly payload: number;
  readonly signedMessage: number;

  constructor(columns: readonly string[]) {
    const at = (name: string) => columns.indexOf(name);
    this.time = at('time');
    this.device = at(names.deviceTag);
    this.topic = at(names.topicTag);
    this.verified = at(VERIFIED_TAG);
    this.status = at(STATUS_TAG);
    this.signature = at(names.signature);
    this.timeField = at(names.time);
    this.total = at(names.total);
    this.payload = at(names.payload);
    this.signedMessage = at(SIGNED_MESSAGE_FIELD);
    const phases: number[] = [];
    const phase = new RegExp(`^${names.total}_(0|[1-9]\\d{0,2})$`);
    columns.forEach((c, i) => {
      const m = phase.exec(c);
      if (m) phases[Number(m[1])] = i;
    });
    this.phases = Array.from(phases, (i) => i ?? -1);
  }
}

/** What the row shows: the messages its values could have been signed as, or why there are none. */
type Shown = { readonly messages: readonly string[]; readonly decimals: readonly number[] } | { readonly problem: string };

export class Rechecker {
  /** Decimal count that last proved a row per device, tried first (a speed hint only). */
  private readonly decimals = new Map<string, number>();

  constructor(
    private readonly keys: KeyFile,
    private readonly crypto: SignatureVerifier,
  ) {}

  check(row: readonly unknown[], l: RowLayout): RowCheck {
    const device = str(row, l.device) ?? str(row, l.topic)?.split('/')[1] ?? NO_DEVICE;
    const tag = str(row, l.verified);
    const storedVerified = tag === 'true' ? true : tag === 'false' ? false : undefined;
    const status = str(row, l.status);
    const payload = exactPayload(str(row, l.payload));
    const fieldSignature = str(row, l.signature);
    const signatureHex = fieldSignature ?? payload?.signature;
    const base = { device, storedVerified, ...(status !== undefined && { status }), signed: signatureHex !== undefined };
    const judged = (why: string | undefined, proof?: Proof): RowCheck => {
      const proven = why === undefined;
      if (storedVerified === true && !proven)
        return { ...base, proven, disagreement: { kind: 'forged_verified', detail: `verified=true, but ${why}` } };
      if (storedVerified === false && proven && !ORDER_STATUSES.has(status ?? '')) {
        return {
          ...base,
          proven,
          ...(proof && { proof }),
          disagreement: {
            kind: 'rejected_but_valid',
            detail: `stored verify_status=${status ?? '(none)'}, but the signature verifies now`,
          },
        };
      }
      return { ...base, proven, ...(proof && { proof }) };
    };

    if (signatureHex === undefined) {
      if (storedVerified !== true) return { ...base, proven: false };
      return { ...base, proven: false, disagreement: { kind: 'forged_verified', detail: 'verified=true on a row without a Signature' } };
    }
    const shown = this.shown(row, l, device, payload);
    const stored = str(row, l.signedMessage);
    if (stored !== undefined && !('messages' in shown && shown.messages.includes(stored))) {
      const what =
        'messages' in shown ? `the row's Time and Total give ${shown.messages.map((m) => `"${m}"`).join(' or ')}` : shown.problem;
      return {
        ...base,
        proven: false,
        disagreement: { kind: 'message_mismatch', detail: `signed_message "${stored}" does not match the row: ${what}` },
      };
    }
    if ('problem' in shown) return judged(shown.problem);
    if (fieldSignature !== undefined && payload?.signature !== undefined && fieldSignature !== payload.signature) {
      return judged("the Signature field differs from the raw payload's");
    }
    // A stored signed_message that matches the row is the one text to check; otherwise every candidate.
    const candidates = stored !== undefined ? { messages: [stored], decimals: [] } : shown;
    const signature = hexSignature(Buffer.from(signatureHex, 'latin1'), 0, signatureHex.length);
    if (!signature) return judged('Signature is not 128 hex digits');
    const registered = device === NO_DEVICE ? undefined : this.keys.devices.get(device);
    if (!registered) return judged(`device "${device}" has no key in the registry`);
    const time19 = candidates.messages[0]!.slice(0, 19);
    const keys = keysValidAt(registered, time19);
    if (keys.length === 0) return judged(`device "${device}" has no key valid at ${time19}`);
    const match = runSignatureJob({ signature, messages: candidates.messages, keys }, this.crypto);
    if (match < 0) return judged(`the signature does not verify "${candidates.messages.join('" or "')}"`);
    const m = Math.floor(match / keys.length);
    const d = candidates.decimals[m];
    if (d !== undefined) this.decimals.set(device, d);
    return judged(undefined, { message: candidates.messages[m]!, key: keys[match % keys.length]! });
  }

  /** Exact mode's one message from the raw payload, or json v1 fields' candidates; both must agree. */
  private shown(row: readonly unknown[], l: RowLayout, device: string, payload: ExactPayload | undefined): Shown {
    const fields = this.fromFields(row, l, device);
    if (!payload) return fields ?? { problem: `the row has no ${names.time} and ${names.total} to check` };
    if ('problem' in payload) return payload;
    if (fields && !('problem' in fields) && !fields.messages.includes(payload.message)) {
      return { problem: `the fields (${fields.messages[0]}) differ from the raw payload (${payload.message})` };
    }
    return { messages: [payload.message], decimals: [] };
  }

  private fromFields(row: readonly unknown[], l: RowLayout, device: string): Shown | undefined {
    const time = str(row, l.timeField);
    const totals = totalsOf(row, l);
    if (time === undefined && totals === undefined) return undefined;
    const time19 = time === undefined ? undefined : signedTime(time);
    if (time19 === undefined) return { problem: `${names.time} "${time ?? ''}" is not a date and time` };
    if (totals === undefined || 'problem' in totals) return { problem: totals?.problem ?? `${names.total} is missing` };
    const decimals = exactDecimalCounts(totals.values, this.decimals.get(device));
    if (decimals.length === 0) return { problem: `Total ${totals.values.join(',')} is not a value the firmware can print` };
    return { messages: decimals.map((d) => signedMessage(time19, formatTotal(totals.values, d, totals.asArray))), decimals };
  }
}

function str(row: readonly unknown[], i: number): string | undefined {
  const v = i < 0 ? undefined : row[i];
  return typeof v === 'string' ? v : undefined;
}

function totalsOf(row: readonly unknown[], l: RowLayout): { values: number[]; asArray: boolean } | { problem: string } | undefined {
  const single = l.total < 0 ? undefined : row[l.total];
  const phases = l.phases.map((i) => (i < 0 ? undefined : row[i]));
  const last = phases.findLastIndex((v) => v !== undefined && v !== null);
  if (single !== undefined && single !== null) {
    if (last >= 0) return { problem: `both ${names.total} and ${names.total}_N are present` };
    return typeof single === 'number' ? { values: [single], asArray: false } : { problem: `${names.total} is not a number` };
  }
  if (last < 0) return undefined;
  const values = phases.slice(0, last + 1);
  if (!values.every((v): v is number => typeof v === 'number')) return { problem: `${names.total}_N phases are not numbered 0..${last}` };
  return { values, asArray: true };
}

type ExactPayload =
  | { readonly signature: string | undefined; readonly message: string }
  | { readonly problem: string; readonly signature: string | undefined };

/** The raw payload of exact mode, read exactly as the processor reads it: its Signature and its one message. */
function exactPayload(text: string | undefined): ExactPayload | undefined {
  if (text === undefined || !text.trimStart().startsWith('{')) return undefined;
  let root: JsonValue;
  try {
    root = parseJson(text);
  } catch (e) {
    if (e instanceof JsonError) return { problem: `the raw payload is not valid JSON (${e.message})`, signature: undefined };
    throw e;
  }
  if (root.kind !== 'object') return undefined;
  const r = readSignedPayload(text, root, flattenJson(root, KEEP_STRINGS), names);
  if (r.status === 'unsigned') return { problem: `the raw payload has no ${names.signature}`, signature: undefined };
  if (r.status === 'malformed') return { problem: `the raw ${r.reason}`, signature: r.signatureText };
  return { signature: r.signatureText, message: signedMessage(r.time19, r.totalText) };
}
