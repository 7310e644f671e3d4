/**
 * Ed25519 verification backends. libsodium (`sodium-native`) is the fast path; `node:crypto`
 * (OpenSSL) is the fallback when the native module is not installed beside the processor. Both see
 * only keys admitted by `parsePublicKey`, which is what makes them agree (docs/design.md §5).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { PointCheck, PublicKey } from '../pubkey';
import { hexToBytes } from '../pubkey';

export type BackendName = 'libsodium' | 'node:crypto';
export type BackendChoice = 'auto' | 'sodium' | 'node';

export interface SignatureVerifier {
  readonly name: BackendName;
  /** `signature` is 64 bytes; `message` the exact signed bytes. */
  verify(signature: Uint8Array, message: Uint8Array, key: PublicKey): boolean;
}

/** The two libsodium calls meterproof makes, however sodium-native was reached. */
export interface Sodium {
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  isValidPoint(point: Uint8Array): boolean;
}

const requireHere = createRequire(import.meta.url);

/** sodium-native's public module (index.js): argument checks around the addon. */
function sodiumModule(): Sodium | undefined {
  let m: {
    crypto_sign_verify_detached(s: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
    crypto_core_ed25519_is_valid_point(p: Uint8Array): boolean;
  };
  try {
    m = requireHere('sodium-native') as typeof m;
  } catch {
    return undefined;
  }
  return {
    verify: (s, msg, pk) => m.crypto_sign_verify_detached(s, msg, pk),
    isValidPoint: (p) => m.crypto_core_ed25519_is_valid_point(p),
  };
}

/** The addon's own entry points, as sodium-native 5 built them: buffers go as (ArrayBuffer, offset, length). */
interface SodiumAddon {
  crypto_sign_verify_detached(
    s: ArrayBufferLike,
    so: number,
    sl: number,
    m: ArrayBufferLike,
    mo: number,
    ml: number,
    pk: ArrayBufferLike,
    po: number,
    pl: number,
  ): unknown;
  crypto_core_ed25519_is_valid_point(p: Uint8Array): unknown;
}

/**
 * sodium-native's prebuilt addon, loaded without the package's resolver, which costs about 30 ms of
 * start-up (six modules and a semver parser) for a path that is fixed per platform. The addon is
 * trusted only once it has answered known vectors right; otherwise the public module is used.
 */
function sodiumAddon(): Sodium | undefined {
  let addon: SodiumAddon;
  try {
    const file = join(
      dirname(requireHere.resolve('sodium-native')),
      'prebuilds',
      `${process.platform}-${process.arch}`,
      'sodium-native.node',
    );
    if (!existsSync(file)) return undefined; // e.g. musl, or a source build: the public module knows where to look
    addon = requireHere(file) as SodiumAddon;
  } catch {
    return undefined;
  }
  const sodium: Sodium = {
    // The addon asserts (aborts) on wrong sizes, so sizes are checked here; it answers non-booleans for
    // buffers it cannot read (a SharedArrayBuffer), which `=== true` turns into a rejection.
    verify: (s, m, pk) =>
      s.byteLength === 64 &&
      pk.byteLength === 32 &&
      addon.crypto_sign_verify_detached(s.buffer, s.byteOffset, 64, m.buffer, m.byteOffset, m.byteLength, pk.buffer, pk.byteOffset, 32) ===
        true,
    isValidPoint: (p) => p.byteLength === 32 && addon.crypto_core_ed25519_is_valid_point(p) === true,
  };
  return answersRight(sodium) ? sodium : undefined;
}

// RFC 8032 §7.1 TEST 2, and the identity point (small order).
const SELF_TEST = {
  key: hexToBytes('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'),
  message: Uint8Array.of(0x72),
  signature: hexToBytes(
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  ),
  identity: hexToBytes('0100000000000000000000000000000000000000000000000000000000000000'),
};

function answersRight(s: Sodium): boolean {
  const { key, message, signature, identity } = SELF_TEST;
  const forged = signature.slice();
  forged[0]! ^= 1;
  try {
    return (
      s.verify(signature, message, key) &&
      !s.verify(forged, message, key) &&
      !s.verify(signature, Uint8Array.of(0x73), key) &&
      s.isValidPoint(key) &&
      !s.isValidPoint(identity)
    );
  } catch {
    return false; // another addon build, with other entry points
  }
}

let loaded: Sodium | null | undefined;
function loadSodium(): Sodium | undefined {
  if (loaded === undefined) loaded = sodiumAddon() ?? sodiumModule() ?? null;
  return loaded ?? undefined;
}

/** libsodium's check for canonical, on-curve, prime-order points, when the native module is present. */
export function nativePointCheck(): PointCheck | undefined {
  const sodium = loadSodium();
  return sodium && ((bytes) => sodium.isValidPoint(bytes));
}

export function sodiumVerifier(sodium: Sodium): SignatureVerifier {
  return {
    name: 'libsodium',
    verify: (signature, message, key) => signature.length === 64 && sodium.verify(signature, message, key.bytes),
  };
}

/** Both ways of reaching libsodium, for tests that hold them to the same vectors. */
export const sodiumRoutes = (): { addon?: Sodium; module?: Sodium } => ({ addon: sodiumAddon(), module: sodiumModule() });

export function opensslVerifier(): SignatureVerifier {
  // Loaded here, not at start-up: node:crypto costs milliseconds to load and is only the fallback.
  const { createPublicKey, verify } = requireHere('node:crypto') as typeof import('node:crypto');
  // Parsing the key costs as much as a verify; cache one KeyObject per admitted key.
  const keyObjects = new WeakMap<PublicKey, KeyObject>();
  const keyObject = (key: PublicKey): KeyObject => {
    let ko = keyObjects.get(key);
    if (!ko) {
      ko = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key.bytes).toString('base64url') }, format: 'jwk' });
      keyObjects.set(key, ko);
    }
    return ko;
  };
  return {
    name: 'node:crypto',
    verify: (signature, message, key) => signature.length === 64 && verify(null, message, keyObject(key), signature),
  };
}

/** The fastest available backend, or the one asked for; throws when `sodium` is asked for but missing. */
export function loadVerifier(choice: BackendChoice = 'auto'): SignatureVerifier {
  if (choice === 'node') return opensslVerifier();
  const sodium = loadSodium();
  if (sodium) return sodiumVerifier(sodium);
  if (choice === 'sodium') throw new Error('sodium-native is not installed beside the processor (npm install sodium-native)');
  return opensslVerifier();
}
