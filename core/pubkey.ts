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

/** An admitted key. Bytes are made on first use: a registry of 100,000 mostly idle devices stays small. */
class AdmittedKey implements PublicKey {
  private cached: Uint8Array | undefined;
  constructor(readonly hex: string) {}
  get bytes(): Uint8Array {
    return (this.cached ??= hexToBytes(this.hex));
  }
}

export class KeyRejected extends Error {}

const HEX64 = /^[0-9a-fA-F]{64}$/;

const scratch = new Uint8Array(32);

export function hexToBytes(hex: string, out = new Uint8Array(hex.length >>> 1)): Uint8Array {
  for (let i = 0; i < out.length; i++) out[i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
  return out;
}

function nibble(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
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
  const lower = hex.toLowerCase();
  if (fastCheck?.(hexToBytes(hex, scratch))) return new AdmittedKey(lower);
  const bytes = hexToBytes(hex);
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
  return new AdmittedKey(lower);
}
