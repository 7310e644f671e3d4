/**
 * The browser's own check of a stored verdict: the signature over `signed_message` under the device's
 * registered key, and the Total text inside the message against the Total fields stored beside it.
 *
 * Ed25519 runs in the browser's WebCrypto where it has it (Chromium, Firefox, Safari): native code, off
 * the main thread, about a hundred times faster than JavaScript. `@noble/ed25519` in strict RFC 8032 mode
 * (`zip215: false`) is the fallback and the reference. WebCrypto only ever sees what strict noble would
 * also accept as input: keys admitted by core/pubkey (canonical encodings of prime-order points), which
 * verifyEd25519 makes sure of itself (keyAdmission.ts, once per key for the page's life), and signatures
 * whose S is canonical (S < L), checked here first. So where a browser's Ed25519 is laxer than strict
 * RFC 8032, the strict answer wins.
 */
import { verifyAsync } from '@noble/ed25519';
import { SIGNED_TIME_LENGTH, signedTime } from '../../core/firmware';
import { keysValidAt, type KeyFile } from '../../core/keyfile';
import { hexToBytes, type PublicKey } from '../../core/pubkey';
import { admitted } from './keyAdmission';

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

/** Which implementation verifies: the browser's WebCrypto, or strict @noble/ed25519. */
export type Ed25519Engine = 'webcrypto' | 'noble';

type Subtle = Pick<SubtleCrypto, 'importKey' | 'verify'>;
const ED25519 = { name: 'Ed25519' } as const;

// RFC 8032 §7.1 TEST 2: the self-test a WebCrypto must pass before it is trusted with a verdict.
const TEST_KEY = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c';
const TEST_MESSAGE = '72';
const TEST_SIGNATURE =
  '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00';

let subtleOverride: Subtle | null | undefined;
let engineProbe: Promise<Ed25519Engine> | undefined;
const cryptoKeys = new WeakMap<Subtle, Map<string, Promise<CryptoKey>>>();

const subtle = (): Subtle | undefined =>
  subtleOverride === undefined ? (globalThis.crypto?.subtle as Subtle | undefined) : (subtleOverride ?? undefined);

/** Tests only: a WebCrypto stand-in (or `null` for none); `undefined` restores the browser's. */
export function useSubtleForTests(s: Subtle | null | undefined): void {
  subtleOverride = s;
  engineProbe = undefined;
}

async function webcryptoVerify(s: Subtle, sig: Uint8Array, msg: Uint8Array, key: PublicKey): Promise<boolean> {
  let keys = cryptoKeys.get(s);
  if (!keys) cryptoKeys.set(s, (keys = new Map()));
  let k = keys.get(key.hex);
  if (!k) {
    k = Promise.resolve(s.importKey('raw', key.bytes as BufferSource, ED25519, false, ['verify']));
    keys.set(key.hex, k);
  }
  return (await s.verify(ED25519, await k, sig as BufferSource, msg as BufferSource)) === true;
}

/**
 * WebCrypto when it has Ed25519 and answers RFC 8032 TEST 2 right (accepts it, refuses it with a bit
 * flipped and over another message), else noble. Decided once.
 */
export function ed25519Engine(): Promise<Ed25519Engine> {
  return (engineProbe ??= (async (): Promise<Ed25519Engine> => {
    const s = subtle();
    if (!s) return 'noble';
    try {
      const key = { bytes: hexToBytes(TEST_KEY), hex: TEST_KEY };
      const sig = hexToBytes(TEST_SIGNATURE);
      const msg = hexToBytes(TEST_MESSAGE);
      const flipped = sig.slice();
      flipped[0]! ^= 1;
      const answers = await Promise.all([
        webcryptoVerify(s, sig, msg, key),
        webcryptoVerify(s, flipped, msg, key),
        webcryptoVerify(s, sig, hexToBytes('73'), key),
      ]);
      return answers[0] === true && answers[1] === false && answers[2] === false ? 'webcrypto' : 'noble';
    } catch {
      return 'noble';
    }
  })());
}

/**
 * Strict Ed25519 verification; false under a key that strict admission refuses, which no engine then
 * sees. `engine` forces one implementation (the vector tests run both); by default the fastest that
 * passed its self-test.
 */
export async function verifyEd25519(signature: Uint8Array, message: Uint8Array, key: PublicKey, engine?: Ed25519Engine): Promise<boolean> {
  if (signature.length !== 64 || !canonicalS(signature) || !admitted(key)) return false;
  const use = engine ?? (await ed25519Engine());
  const s = subtle();
  if (use === 'webcrypto' && s) {
    if (engine) return webcryptoVerify(s, signature, message, key);
    try {
      return await webcryptoVerify(s, signature, message, key);
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

  const candidates = keysValidAt(keys.devices.get(input.device) ?? [], time19);
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
