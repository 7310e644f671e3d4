/**
 * Collects output bytes and hands them to stdout in large chunks. A chunk is never reused after it is
 * handed off, because the stream may still be writing it.
 */
/** Up to this size a flush copies out instead of handing off (and re-allocating) the whole buffer. */
const SMALL_FLUSH = 8 * 1024;

export class OutputBuffer {
  private buf: Buffer;
  private len = 0;

  constructor(private readonly sink: (chunk: Buffer) => void, private readonly chunkSize = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(chunkSize);
  }

  bytes(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.reserve(n);
    this.buf.set(src.subarray(start, end), this.len);
    this.len += n;
  }

  /** Latin-1/ASCII text (all meterproof writes besides copied bytes is ASCII or escaped UTF-8 via `utf8`). */
  ascii(s: string): void {
    this.reserve(s.length);
    this.len += this.buf.write(s, this.len, 'latin1');
  }

  utf8(s: string): void {
    this.reserve(Buffer.byteLength(s));
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  flush(): void {
    if (this.len === 0) return;
    let chunk: Buffer;
    if (this.len <= SMALL_FLUSH) {
      // A lone metric: copy it out (pooled allocation) and keep the big buffer for the next one.
      chunk = Buffer.from(this.buf.subarray(0, this.len));
    } else {
      chunk = this.buf.subarray(0, this.len);
      this.buf = Buffer.allocUnsafe(this.chunkSize);
    }
    this.len = 0;
    this.sink(chunk);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    if (this.len > 0) this.flush();
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
  }
}
