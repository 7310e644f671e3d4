/**
 * The browser's own check of a stored verdict: the signature over `signed_message` under the device's
 * registered key, and the Total text inside the message against the Total fields stored beside it.
 *
 * Ed25519 runs in the browser's WebCrypto where it has it (Chromium, Firefox, Safari): native code, off
 * the main thread, about a hundred times faster than JavaScript (cryptoEngine.ts). `@noble/ed25519` in
 * strict RFC 8032 mode (`zip215: false`) is the fallback and the reference. WebCrypto's Ed25519 only ever
 * sees what strict noble would also accept as input: keys strict admission accepts (canonical encodings
 * of prime-order points), which verifyEd25519 makes sure of itself (keyAdmission.ts, once per key for the
 * page's life), and signatures whose S is canonical (S < L), checked here first. So where a browser's
 * Ed25519 is laxer than strict RFC 8032, the strict answer wins.
 */
import { verifyAsync } from '@noble/ed25519';
import { SIGNED_TIME_LENGTH, signedTime } from '../../core/firmware';
import { keysValidAt, type KeyFile } from '../../core/keyfile';
import { hexToBytes, type PublicKey } from '../../core/pubkey';
import { cryptoEngine, type Ed25519Engine } from './cryptoEngine';
import { admitted, admittedKeysOf } from './keyAdmission';

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
const utf8 = new TextEncoder();
const TOTAL_TEXT = /^-?\d+(?:\.\d+)?$/;

/** The Total numbers inside a signed message's Total text (`1.500` or `[1.500,2.000,3.250]`). */
function signedTotals(text: string): number[] | undefined {
  const parts = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1).split(',') : [text];
  return parts.every((p) => TOTAL_TEXT.test(p)) ? parts.map(Number) : undefined;
}

/** The order of the Ed25519 group, L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0x10,
]);

/** Whether S, the signature's second half read little-endian, is below L (RFC 8032 §5.1.7 step 1). */
export function canonicalS(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    if (s !== L_LE[i]) return s < L_LE[i]!;
  }
  return false; // S = L
}

/**
 * Strict Ed25519 verification; false under a key that strict admission refuses, which no engine then
 * sees. `engine` forces one implementation (the vector tests run both); by default the fastest that
 * passed its self-test.
 */
export async function verifyEd25519(signature: Uint8Array, message: Uint8Array, key: PublicKey, engine?: Ed25519Engine): Promise<boolean> {
  if (signature.length !== 64 || !canonicalS(signature) || !admitted(key)) return false;
  const e = await cryptoEngine();
  if ((engine ?? e.verifier) === 'webcrypto') {
    if (e.verifier !== 'webcrypto') throw new Error('this browser has no WebCrypto Ed25519 that passed its self-test');
    if (engine) return e.ops.verify(key.bytes, signature, message);
    try {
      return await e.ops.verify(key.bytes, signature, message);
    } catch {
      // A key this browser will not import: strict noble decides.
    }
  }
  return verifyAsync(signature, message, key.bytes, { zip215: false });
}

export async function recheck(input: RecheckInput, keys: KeyFile): Promise<RecheckOutcome> {
  const { message, signature, values } = input;
  const time19 = signedTime(message) ? message.slice(0, SIGNED_TIME_LENGTH) : undefined;
  const totals = message[SIGNED_TIME_LENGTH] === ',' ? signedTotals(message.slice(SIGNED_TIME_LENGTH + 1)) : undefined;
  if (!time19 || !totals) return { kind: 'malformed', detail: `signed_message "${message}" is not "<time>,<total>"` };
  if (!SIGNATURE_HEX.test(signature)) return { kind: 'malformed', detail: 'Signature is not 128 hex digits' };

  const candidates = keysValidAt((await admittedKeysOf(keys, input.device)) ?? [], time19);
  if (candidates.length === 0) return { kind: 'no_key' };
  const bytes = utf8.encode(message);
  const sig = hexToBytes(signature);
  let valid = false;
  try {
    for (const entry of candidates) {
      if (await verifyEd25519(sig, bytes, entry.key)) {
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
