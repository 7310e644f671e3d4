/**
 * Text as one byte per UTF-16 unit, its low eight bits (what Buffer.from(text, 'latin1') gives): the
 * bytes a signed text is verified as (signed texts are ASCII; anything else simply fails to verify),
 * and meterproof's own ASCII output. Written by hand: Buffer's encoders cost more per call than a
 * short text takes to copy.
 */
export function writeLatin1(text: string, to: Uint8Array, at: number): void {
  for (let i = 0; i < text.length; i++) to[at + i] = text.charCodeAt(i);
}

const SCRATCH = 128;
const scratch = new Uint8Array(SCRATCH);
const views = Array.from({ length: SCRATCH + 1 }, (_, n) => scratch.subarray(0, n));

/** The text's bytes in a scratch view: valid until the next call, so use them at once. */
export function latin1Scratch(text: string): Uint8Array {
  if (text.length > SCRATCH) return Buffer.from(text, 'latin1');
  writeLatin1(text, scratch, 0);
  return views[text.length]!;
}
