/**
 * Public-key admission. Keys are checked once, when loaded, so that no verifier ever sees a key under
 * which forgeries are possible (DESIGN §6: OpenSSL accepts the identity point, and then R=identity,
 * S=0 verifies any message). Browser-safe.
 */
import { Point } from '@noble/ed25519';

export interface PublicKey {
  /** 32 bytes, canonical encoding of a point of prime order. */
  readonly bytes: Uint8Array;
  /** Lowercase hex of `bytes`. */
  readonly hex: string;
}

export class KeyRejected extends Error {}

const HEX64 = /^[0-9a-fA-F]{64}$/;

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A native check that answers, in microseconds, whether bytes are a canonical encoding of a point of
 * prime order (libsodium's `crypto_core_ed25519_is_valid_point`). The pure-JS check below gives the
 * same answer (tested) but costs milliseconds a key, which matters for 100,000 devices.
 */
export type PointCheck = (bytes: Uint8Array) => boolean;

/** Parses and admits a key, or throws KeyRejected with a reason a person can act on. */
export function parsePublicKey(hex: unknown, fastCheck?: PointCheck): PublicKey {
  if (typeof hex !== 'string') throw new KeyRejected('is not a string of 64 hex digits');
  if (!HEX64.test(hex)) throw new KeyRejected(`is not 32 bytes of hex (got ${hex.length} characters)`);
  const bytes = hexToBytes(hex);
  if (fastCheck?.(bytes)) return { bytes, hex: hex.toLowerCase() };
  // Slow path: admits what the fast check admits, and says why a key is refused.
  let point: Point;
  try {
    point = Point.fromBytes(bytes, false); // strict: y < p, canonical sign of x
  } catch {
    throw new KeyRejected('is not a valid Ed25519 point (off the curve or a non-canonical encoding)');
  }
  if (point.isSmallOrder()) throw new KeyRejected('has small order (a weak key under which forgeries verify)');
  // Genuine keys are a multiple of the base point; a torsion component only serves to split verifiers.
  if (!point.isTorsionFree()) throw new KeyRejected('is not in the prime-order subgroup (mixed-order key)');
  return { bytes, hex: hex.toLowerCase() };
}
