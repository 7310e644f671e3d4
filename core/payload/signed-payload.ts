/**
 * Exact mode's rules: the raw MQTT payload arrives as a string field (`data_format = "value"`), and the
 * signed parts are read from it verbatim instead of rebuilt from floats. The processor judges live,
 * and the audit judges later, by these same rules (docs/design.md §4).
 */
import { signedTime } from '../firmware';
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
    };

const HEX128 = /^[0-9a-fA-F]{128}$/;

/**
 * The signed parts of a parsed Tasmota payload (exact mode). `flat` is the payload flattened as json v1
 * would: a signed name that occurs twice there is malformed, since which one gets stored is not ours
 * to pick (`{"ENERGY":{"Total":1.5},"ENERGY_Total":99}`).
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
  const signed = (k: string) =>
    k === names.signature ||
    k === names.time ||
    k === names.total ||
    (k.startsWith(`${names.total}_`) && /^\d+$/.test(k.slice(names.total.length + 1)));
  const seen = new Set<string>();
  for (const [k] of flat) {
    if (seen.has(k) && signed(k)) return malformed(`has two fields named ${k} after flattening`);
    seen.add(k);
  }
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
  return { status: 'reading', signatureText, time19, totals, asArray: totalValue.kind === 'array', totalText };
}
