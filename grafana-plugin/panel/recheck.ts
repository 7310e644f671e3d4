/**
 * The browser's own check of a stored verdict: the signature over `signed_message` under the device's
 * registered key (strict RFC 8032, `@noble/ed25519` with zip215 off), and the Total text inside the
 * message against the Total fields that were stored beside it.
 */
import { verifyAsync } from '@noble/ed25519';
import { SIGNED_TIME_LENGTH, signedTime } from '../../core/firmware';
import { keysValidAt, type KeyFile } from '../../core/keyfile';
import { hexToBytes } from '../../core/pubkey';

export type RecheckOutcome =
  /** Signature valid under a registered key, and the signed Total equals the stored one. */
  | { kind: 'verified' }
  /** No key registered for the device at the signed time verifies the signature. */
  | { kind: 'bad_signature' }
  /** The signature holds, but the stored Total differs from the signed text. */
  | { kind: 'total_mismatch'; detail: string }
  /** `signed_message` or `Signature` is not what the processor writes. */
  | { kind: 'malformed'; detail: string }
  /** Not checked: no key in the data source's list for this device and time. */
  | { kind: 'no_key' }
  /** Not checked: the browser cannot verify (no WebCrypto outside HTTPS). */
  | { kind: 'unavailable'; detail: string };

export interface RecheckInput {
  device: string;
  message: string;
  signature: string;
  /** Stored Total fields of the same row, one per phase. */
  values: readonly number[];
}

/** Whether the outcome contradicts the stored `verified = true` of the row it checked. */
export const disagrees = (o: RecheckOutcome): boolean =>
  o.kind === 'bad_signature' || o.kind === 'total_mismatch' || o.kind === 'malformed';

const SIGNATURE_HEX = /^[0-9a-fA-F]{128}$/;
const TOTAL_TEXT = /^-?\d+(?:\.\d+)?$/;

/** The Total numbers inside a signed message's Total text (`1.500` or `[1.500,2.000,3.250]`). */
function signedTotals(text: string): number[] | undefined {
  const parts = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1).split(',') : [text];
  return parts.every((p) => TOTAL_TEXT.test(p)) ? parts.map(Number) : undefined;
}

export async function recheck(input: RecheckInput, keys: KeyFile): Promise<RecheckOutcome> {
  const { message, signature, values } = input;
  const time19 = signedTime(message) ? message.slice(0, SIGNED_TIME_LENGTH) : undefined;
  const totals = message[SIGNED_TIME_LENGTH] === ',' ? signedTotals(message.slice(SIGNED_TIME_LENGTH + 1)) : undefined;
  if (!time19 || !totals) return { kind: 'malformed', detail: `signed_message "${message}" is not "<time>,<total>"` };
  if (!SIGNATURE_HEX.test(signature)) return { kind: 'malformed', detail: 'Signature is not 128 hex digits' };

  const candidates = keysValidAt(keys.devices.get(input.device) ?? [], time19);
  if (candidates.length === 0) return { kind: 'no_key' };
  const bytes = new TextEncoder().encode(message);
  const sig = hexToBytes(signature);
  let valid = false;
  try {
    for (const entry of candidates) {
      if (await verifyAsync(sig, bytes, entry.key.bytes, { zip215: false })) {
        valid = true;
        break;
      }
    }
  } catch (e) {
    return { kind: 'unavailable', detail: `this browser cannot verify here (${(e as Error).message}); open Grafana over HTTPS` };
  }
  if (!valid) return { kind: 'bad_signature' };
  // Number(text) === stored float: the processor's own exactness rule (docs/design.md §2), per phase.
  if (totals.length !== values.length || totals.some((t, i) => t !== values[i])) {
    return {
      kind: 'total_mismatch',
      detail: `signed ${message.slice(SIGNED_TIME_LENGTH + 1)}, stored ${values.length ? values.join(', ') : 'nothing'}`,
    };
  }
  return { kind: 'verified' };
}
