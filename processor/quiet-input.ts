/**
 * Tells when input rests: no chunk for a millisecond, and then none in one more turn of the event
 * loop (whose I/O poll does not block while an immediate is queued). The second look matters after a
 * long chunk, when the timer fires before input already waiting was even polled. Quiet time is read
 * from the clock, not from the timer: libuv's timers count from a cached loop time and may fire early.
 */
const QUIET_MS = 1;

export class QuietInput {
  private lastChunk = 0;
  private watching = false;

  constructor(private readonly onRest: () => void) {}

  /** A chunk of input arrived. */
  chunk(): void {
    this.lastChunk = performance.now();
    if (!this.watching) this.watch();
  }

  private watch(): void {
    this.watching = true;
    const quiet = () => performance.now() - this.lastChunk >= QUIET_MS;
    const look = (): void => {
      if (!quiet()) return void setTimeout(look, QUIET_MS).unref();
      setImmediate(() => {
        if (!quiet()) return void setTimeout(look, QUIET_MS).unref();
        this.watching = false;
        this.onRest();
      });
    };
    setTimeout(look, QUIET_MS).unref();
  }
}
