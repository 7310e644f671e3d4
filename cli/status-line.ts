/**
 * One self-rewriting line on a terminal (live counts, progress bars). Silent when the stream is not a
 * TTY, so piped and redirected runs stay quiet. Redraws are throttled: a terminal cannot show more.
 */
export interface StatusLine {
  /** Shows `text`; skipped if the last redraw was under `minIntervalMs` ago, unless `force`. */
  update(text: string, force?: boolean): void;
  /** Leaves the last text on screen and moves to a new line. */
  done(): void;
}

interface Terminal {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(s: string): boolean;
}

export function statusLine(stream: Terminal, minIntervalMs = 100, now: () => number = Date.now): StatusLine {
  if (!stream.isTTY) return { update: () => undefined, done: () => undefined };
  let last = -Infinity;
  let shown = false;
  return {
    update(text, force = false) {
      const t = now();
      if (!force && t - last < minIntervalMs) return;
      last = t;
      shown = true;
      const width = Math.max(20, (stream.columns || 80) - 1); // a pty may report 0 columns
      stream.write(`\r\x1b[2K${text.length > width ? text.slice(0, width - 1) + '…' : text}`);
    },
    done() {
      if (shown) stream.write('\n');
      shown = false;
    },
  };
}
