/**
 * Public-key admission. Keys are checked once, when loaded, so that no verifier ever sees a key under
 * which forgeries are possible (docs/design.md §5: OpenSSL accepts the identity point, and then R=identity,
 * S=0 verifies any message). Browser-safe.
 */
import { Point } from '@noble/ed25519';

export interface PublicKey {
  /** 32 bytes, canonical encoding of a point of prime order. */
  readonly bytes: Uint8Array;
  /** Lowercase hex of `bytes`. */
  readonly hex: string;
}

/** An admitted key, from either form; the other is made on first use (most of a large fleet is idle at any moment). */
class AdmittedKey implements PublicKey {
  constructor(
    private hexForm?: string,
    private bytesForm?: Uint8Array,
  ) {}
  get bytes(): Uint8Array {
    return (this.bytesForm ??= hexToBytes(this.hexForm!));
  }
  get hex(): string {
    return (this.hexForm ??= bytesToHex(this.bytesForm!));
  }
}

/** A key from 32 bytes already admitted (see admitKeyBytes); the bytes are kept as given. */
export const admittedKey = (bytes: Uint8Array): PublicKey => new AdmittedKey(undefined, bytes);

export class KeyRejected extends Error {}

const HEX64 = /^[0-9a-fA-F]{64}$/;

const scratch = new Uint8Array(32);

export function bytesToHex(bytes: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += HEX_DIGITS[bytes[i]! >> 4]! + HEX_DIGITS[bytes[i]! & 15]!;
  return hex;
}

const HEX_DIGITS = '0123456789abcdef';

const HEX_VALUE = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX_VALUE[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX_VALUE[0x41 + c] = HEX_VALUE[0x61 + c] = 10 + c;

/** Bytes of hex digits (either case) the caller has already checked. */
export function hexToBytes(hex: string, out = new Uint8Array(hex.length >>> 1)): Uint8Array {
  for (let i = 0; i < out.length; i++) out[i] = (HEX_VALUE[hex.charCodeAt(2 * i)]! << 4) | HEX_VALUE[hex.charCodeAt(2 * i + 1)]!;
  return out;
}

/**
 * Decodes `out.length` bytes from the hex digits (either case) at src[at, at + 2 × out.length), a span
 * the caller knows lies inside `src`. False at the first byte that is not a hex digit.
 */
export function hexSpanInto(src: Uint8Array, at: number, out: Uint8Array): boolean {
  for (let i = 0; i < out.length; i++) {
    const hi = HEX_VALUE[src[at + 2 * i]!]!,
      lo = HEX_VALUE[src[at + 2 * i + 1]!]!;
    if ((hi | lo) < 0) return false;
    out[i] = (hi << 4) | lo;
  }
  return true;
}

/** Whether the 32 key bytes at a[aAt] are those at b[bAt]. */
export function sameKeyBytes(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number): boolean {
  for (let i = 0; i < 32; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
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
  admitKeyBytes(hexToBytes(hex, scratch), fastCheck);
  return new AdmittedKey(hex.toLowerCase());
}

/** Admits a key given as 32 bytes, or throws KeyRejected saying why not. */
export function admitKeyBytes(bytes: Uint8Array, fastCheck?: PointCheck): void {
  if (fastCheck?.(bytes)) return;
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
}
