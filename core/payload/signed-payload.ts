/**
 * Exact mode's rules: the raw MQTT payload arrives as a string field (`data_format = "value"`), and the
 * signed parts are read from it verbatim instead of rebuilt from floats. The processor judges live,
 * and the audit judges later, by these same rules (docs/design.md §4).
 */
import { signedTime } from '../firmware';
import { writesAsIs } from '../lineprotocol/encode';
import { SIGNED_MESSAGE_FIELD, STATUS_TAG, VERIFIED_TAG } from '../status';
import type { JsonValue } from './json-spans';
import { findFlattened, type FlatField } from './json-v1';

/** A reading's parts in a payload: what the processor judges live and the audit judges later, alike. */
export interface PayloadNames {
  readonly signature: string;
  readonly time: string;
  /** json v1's flattened name (`ENERGY_Total`). */
  readonly total: string;
}

export const MAX_PHASES = 16;

export type PayloadReading =
  | { readonly status: 'unsigned' }
  | { readonly status: 'malformed'; readonly reason: string; readonly signatureText?: string }
  | {
      readonly status: 'reading';
      /** 128 hex digits. */
      readonly signatureText: string;
      readonly time19: string;
      readonly totals: readonly number[];
      readonly asArray: boolean;
      /** Total exactly as printed in the payload. */
      readonly totalText: string;
      /** Time exactly as in the payload, zone suffix included. */
      readonly timeText: string;
    };

const HEX128 = /^[0-9a-fA-F]{128}$/;

/**
 * The signed parts of a parsed Tasmota payload (exact mode). `flat` is the payload flattened as json v1
 * would; a signed payload whose flattened names cannot all be written as they read is malformed
 * (see payloadNameProblem).
 */
export function readSignedPayload(text: string, root: JsonValue, flat: readonly FlatField[], names: PayloadNames): PayloadReading {
  if (root.kind !== 'object') return { status: 'unsigned' };
  const sigValue = root.entries.get(names.signature);
  if (!sigValue) return { status: 'unsigned' };
  const signatureText = sigValue.kind === 'string' ? sigValue.value : undefined;
  const malformed = (reason: string): PayloadReading => ({
    status: 'malformed',
    reason: `payload ${reason}`,
    ...(signatureText !== undefined && { signatureText }),
  });
  const badName = payloadNameProblem(flat, names.total);
  if (badName) return malformed(badName);
  if (signatureText === undefined || !HEX128.test(signatureText)) return malformed(`${names.signature} is not 128 hex digits`);
  const timeValue = root.entries.get(names.time);
  if (timeValue?.kind !== 'string') return malformed(`${names.time} is missing`);
  const time19 = signedTime(timeValue.value);
  if (!time19) return malformed(`${names.time} "${timeValue.value.slice(0, 40)}" is not a date and time`);
  const totalValue = findFlattened(root, names.total);
  if (!totalValue) return malformed(`has no ${names.total}`);
  const items = totalValue.kind === 'array' ? totalValue.items : [totalValue];
  const totals = items.flatMap((v) => (v.kind === 'number' && Number.isFinite(v.value) ? [v.value] : []));
  if (totals.length === 0 || totals.length !== items.length || totals.length > MAX_PHASES) {
    return malformed(`${names.total} is not a finite number or array of numbers`);
  }
  const totalText = text.slice(totalValue.start, totalValue.end);
  // The firmware prints no white space inside Total; a reading that has some was not printed by it.
  if (/\s/.test(totalText)) return malformed(`${names.total} contains white space`);
  return { status: 'reading', signatureText, time19, timeText: timeValue.value, totals, asArray: totalValue.kind === 'array', totalText };
}

/** Names only meterproof writes: a payload that brings one is not a plug's. */
const RESERVED = new Set([VERIFIED_TAG, STATUS_TAG, SIGNED_MESSAGE_FIELD]);

/** Whether a payload field is one json v1 writes as it reads and that is not meterproof's to write. */
export const writableField = (name: string): boolean => writesAsIs(name) && !RESERVED.has(name);

/**
 * Why a payload's flattened fields cannot all be written as themselves (docs/design.md §4, "Names as
 * written"), or undefined. Names are compared as they will be written: a name that escaping would alter
 * (`"Total\u0001"`, `"verified\\"`) could land on another field's name, one that occurs twice leaves
 * the stored value to chance (json v1 keeps fields in a Go map: `{"ENERGY":{"Total":1.5},"ENERGY_Total":99}`),
 * and a scalar Total beside phase fields (or the reverse) is not a reading the firmware prints.
 */
export function payloadNameProblem(flat: readonly FlatField[], total: string): string | undefined {
  const seen = new Set<string>();
  let phases = false;
  for (const [k] of flat) {
    if (!writesAsIs(k)) return `has a key ${JSON.stringify(k)} that cannot be written as it reads`;
    if (RESERVED.has(k)) return `has a field named ${k}, which only meterproof writes`;
    if (seen.has(k)) return `has two fields named ${k} after flattening`;
    seen.add(k);
    if (isPhaseName(k, total)) phases = true;
  }
  if (phases && seen.has(total)) return `has both ${total} and ${total}_N fields`;
  return undefined;
}

/** `ENERGY_Total_<n>`: a phase of a three-phase Total as json v1 names it. */
export const isPhaseName = (k: string, total: string): boolean =>
  k.length > total.length + 1 && k.startsWith(total) && k[total.length] === '_' && /^\d+$/.test(k.slice(total.length + 1));
