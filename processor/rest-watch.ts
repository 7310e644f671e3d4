/**
 * Tells when input rests: no chunk for a millisecond, and then none in one more turn of the event
 * loop (whose I/O poll does not block while an immediate is queued). The second look matters after a
 * long chunk, when the timer fires before input already waiting was even polled.
 */
export class RestWatch {
  private chunks = 0;
  private watching = false;

  constructor(private readonly onRest: () => void) {}

  /** A chunk of input arrived. */
  chunk(): void {
    this.chunks++;
    if (!this.watching) this.watch();
  }

  private watch(): void {
    this.watching = true;
    let seen = this.chunks;
    const quiet = (): boolean => {
      if (this.chunks === seen) return true;
      seen = this.chunks;
      setTimeout(look, 1).unref();
      return false;
    };
    const look = (): void => {
      if (!quiet()) return;
      setImmediate(() => {
        if (!quiet()) return;
        this.watching = false;
        this.onRest();
      });
    };
    setTimeout(look, 1).unref();
  }
}
