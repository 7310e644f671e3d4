import { describe, expect, it } from 'vitest';
import { OutputBuffer } from '../../processor/output';

/** Writes `lines` lines of `width` bytes each (line i filled with letter i % 26), flushing every `every`. */
function fill(out: OutputBuffer, lines: number, width: number, every: number): void {
  for (let i = 0; i < lines; i++) {
    out.ascii(String.fromCharCode(97 + (i % 26)).repeat(width - 1));
    out.byte(0x0a);
    if ((i + 1) % every === 0) out.flush();
  }
  out.flush();
}

const expected = (lines: number, width: number) =>
  Array.from({ length: lines }, (_, i) => `${String.fromCharCode(97 + (i % 26)).repeat(width - 1)}\n`).join('');

describe('OutputBuffer', () => {
  it('never writes over a chunk the sink still holds', () => {
    const held: Buffer[] = [];
    const out = new OutputBuffer((c) => (held.push(c), false), 1024);
    fill(out, 200, 100, 30); // chunks of ~1,000 bytes: every flush hands off the whole buffer
    expect(Buffer.concat(held).toString('latin1')).toBe(expected(200, 100));
    expect(new Set(held.map((c) => c.buffer)).size).toBeGreaterThan(1);
  });

  it('writes the next chunk into the same memory once the sink says it is done with it', () => {
    const seen: string[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const out = new OutputBuffer((c) => {
      seen.push(c.toString('latin1')); // taken at once, as a pipe write that completes does
      buffers.add(c.buffer);
      return true;
    }, 16 * 1024);
    fill(out, 2000, 100, 100); // 10,000-byte chunks: above the size that is copied out instead
    expect(seen.join('')).toBe(expected(2000, 100));
    expect(buffers.size).toBe(1);
  });

  it('copies a small flush out, keeping its buffer whatever the sink answers', () => {
    const held: Buffer[] = [];
    const out = new OutputBuffer((c) => (held.push(c), false), 64 * 1024);
    fill(out, 50, 40, 1); // a lone metric per flush
    expect(Buffer.concat(held).toString('latin1')).toBe(expected(50, 40));
  });
});
