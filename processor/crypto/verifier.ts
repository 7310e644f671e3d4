/**
 * Ed25519 verification backends. libsodium (`sodium-native`) is the fast path; `node:crypto`
 * (OpenSSL) is the fallback when the native module is not installed beside the processor. Both see
 * only keys admitted by `parsePublicKey`, which is what makes them agree (DESIGN §6).
 */
import { createRequire } from 'node:module';
import { createPublicKey, verify as opensslVerify, type KeyObject } from 'node:crypto';
import type { PointCheck, PublicKey } from '../../core/pubkey';

export type BackendName = 'libsodium' | 'node:crypto';
export type BackendChoice = 'auto' | 'sodium' | 'node';

export interface SignatureVerifier {
  readonly name: BackendName;
  /** `signature` is 64 bytes; `message` the exact signed bytes. */
  verify(signature: Uint8Array, message: Uint8Array, key: PublicKey): boolean;
}

interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_core_ed25519_is_valid_point(point: Uint8Array): boolean;
}

let sodiumModule: Sodium | null | undefined;
function loadSodium(): Sodium | undefined {
  if (sodiumModule === undefined) {
    try {
      sodiumModule = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch {
      sodiumModule = null;
    }
  }
  return sodiumModule ?? undefined;
}

/** libsodium's check for canonical, on-curve, prime-order points, when the native module is present. */
export function nativePointCheck(): PointCheck | undefined {
  const sodium = loadSodium();
  return sodium && ((bytes) => sodium.crypto_core_ed25519_is_valid_point(bytes));
}

export function sodiumVerifier(sodium: Sodium): SignatureVerifier {
  return {
    name: 'libsodium',
    verify: (signature, message, key) => signature.length === 64 && sodium.crypto_sign_verify_detached(signature, message, key.bytes),
  };
}

export function opensslVerifier(): SignatureVerifier {
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
    verify: (signature, message, key) => signature.length === 64 && opensslVerify(null, message, keyObject(key), signature),
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
