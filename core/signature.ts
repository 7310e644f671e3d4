/** A reading's signature as bytes, decoded without a typed array of its own per reading. */
import { hexSpanInto } from './pubkey';

/** 64 signature bytes from exactly 128 hex digits (either case), or undefined. */
export function hexSignature(buf: Uint8Array, s: number, e: number): Uint8Array | undefined {
  if (e - s !== 128) return undefined;
  const out = signatureSlot();
  return hexSpanInto(buf, s, out) ? out : undefined;
}

/**
 * Room for one signature, cut from a slab shared by the next 255: a view costs a third of what a
 * typed array of its own costs to allocate and collect, for every reading. A slot is never handed
 * out twice, so a signature stays as decoded for as long as its reading holds it.
 */
function signatureSlot(): Uint8Array {
  if (slabUsed === slab.length) {
    slab = new Uint8Array(64 * SLAB_SIGNATURES);
    slabUsed = 0;
  }
  slabUsed += 64;
  return slab.subarray(slabUsed - 64, slabUsed);
}
const SLAB_SIGNATURES = 256;
let slab = new Uint8Array(0);
let slabUsed = 0;
