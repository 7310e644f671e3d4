/**
 * Collects output bytes and hands them to stdout in large chunks. A chunk is reused only when the sink
 * says it has taken every byte (written at once); one the stream still holds is left to it.
 */
import { writeLatin1 } from '../core/node/latin1';
import { escapeStringField } from '../core/lineprotocol/encode';

/** Up to this size a flush copies out instead of handing off (and re-allocating) the whole buffer. */
const SMALL_FLUSH = 8 * 1024;
/** Spans up to this long are copied byte by byte. */
const SHORT_COPY = 48;

export class OutputBuffer {
  private buf: Buffer;
  private len = 0;

  /** `sink` answers true when it is done with the chunk, so its memory may be written again. */
  constructor(
    private readonly sink: (chunk: Buffer) => boolean,
    private readonly chunkSize = 64 * 1024,
  ) {
    this.buf = Buffer.allocUnsafe(chunkSize);
  }

  bytes(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.reserve(n);
    if (n <= SHORT_COPY) {
      // Copied by hand: a view to copy from would cost more than these few bytes.
      const b = this.buf;
      for (let i = 0; i < n; i++) b[this.len + i] = src[start + i]!;
    } else this.buf.set(src.subarray(start, end), this.len);
    this.len += n;
  }

  /** ASCII text (meterproof's own tags and names), written by hand: Buffer's encoders cost more per call. */
  ascii(s: string): void {
    this.reserve(s.length);
    writeLatin1(s, this.buf, this.len);
    this.len += s.length;
  }

  utf8(s: string): void {
    this.reserve(Buffer.byteLength(s));
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  /** A string field's content, escaped (`"` and `\\`); ASCII by hand, anything else through UTF-8. */
  fieldText(s: string): void {
    this.reserve(2 * s.length);
    const b = this.buf;
    let n = this.len;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.len = n;
        return this.utf8(escapeStringField(s.slice(i)));
      }
      if (c === 0x22 || c === 0x5c) b[n++] = 0x5c;
      b[n++] = c;
    }
    this.len = n;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  flush(): void {
    if (this.len === 0) return;
    // A lone metric is copied out (a pooled allocation), so the big buffer is kept whatever the sink does.
    const small = this.len <= SMALL_FLUSH;
    const chunk = small ? Buffer.from(this.buf.subarray(0, this.len)) : this.buf.subarray(0, this.len);
    this.len = 0;
    if (!this.sink(chunk) && !small) this.buf = Buffer.allocUnsafe(this.chunkSize);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    if (this.len > 0) this.flush();
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
  }
}
