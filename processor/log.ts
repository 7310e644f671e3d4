/**
 * stderr in Telegraf's level-prefix style (`E! `, `W! `, `I! `, `D! `), one line per message.
 * Repeats of the same kind are rate-limited so that a flood of bad input cannot flood Telegraf's log.
 */
export type Level = 'E' | 'W' | 'I' | 'D';

export interface Logger {
  log(level: Level, message: string): void;
  /** Like `log`, but at most `burst` messages per `kind` per window; the rest are counted and reported. */
  limited(level: Level, kind: string, message: string): void;
  /** Reports suppressed counts now (also done at each window's end). */
  flushSuppressed(): void;
}

const MAX_LINE = 4096; // well under Telegraf's 64 KiB stderr line limit

/** One line, printable: control characters and invalid text become visible escapes. */
export function oneLine(s: string, max = MAX_LINE): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return clean.length > max ? `${clean.slice(0, max)}… (${clean.length - max} more characters)` : clean;
}

export function createLogger(write: (line: string) => void, opts: { burst?: number; windowMs?: number; now?: () => number } = {}): Logger {
  const burst = opts.burst ?? 5;
  const windowMs = opts.windowMs ?? 10_000;
  const now = opts.now ?? Date.now;
  const kinds = new Map<string, { start: number; sent: number; dropped: number; level: Level }>();

  const log = (level: Level, message: string) => write(`${level}! ${oneLine(message)}\n`);
  const report = (kind: string, k: { dropped: number; level: Level }) => {
    if (k.dropped > 0) log(k.level, `suppressed ${k.dropped} more "${kind}" messages`);
    k.dropped = 0;
  };
  return {
    log,
    limited(level, kind, message) {
      const t = now();
      let k = kinds.get(kind);
      if (!k || t - k.start >= windowMs) {
        if (k) report(kind, k);
        k = { start: t, sent: 0, dropped: 0, level };
        kinds.set(kind, k);
      }
      if (k.sent < burst) {
        k.sent++;
        log(level, message);
      } else k.dropped++;
    },
    flushSuppressed() {
      for (const [kind, k] of kinds) report(kind, k);
    },
  };
}
