/**
 * `--state FILE`: the device memory, persisted so that replays are caught across restarts.
 * Written atomically (temp file, fsync, rename), at most every `intervalMs` when it changed, and on
 * shutdown. Writes are synchronous and driven by the input loop as well as a timer: under a flood of
 * input, timers and async I/O can starve for seconds, which would widen what a kill -9 loses.
 * Telegraf may run two instances (docs/design.md §3); a lock file makes the second one run without
 * persistence instead of racing the first. A corrupt file means a fresh start, never a crash.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import type { Accepted, LastAccepted } from './last-accepted';
import type { Logger } from './log';

interface StateDoc {
  readonly version: 1;
  readonly devices: Record<string, { time: string; totals: number[]; key: string }>;
}

export class StateFile {
  private savedAt = -1;
  private lastWrite = 0;
  private intervalMs = 1000;
  private timer: NodeJS.Timeout | undefined;
  private readonly lockPath: string;
  private locked = false;

  constructor(
    private readonly path: string,
    private readonly memory: LastAccepted,
    private readonly log: Logger,
  ) {
    this.lockPath = `${path}.lock`;
  }

  /** Loads the file into memory and takes the lock. Returns false when another instance holds it. */
  open(intervalMs: number): boolean {
    this.load();
    this.locked = this.lock();
    if (!this.locked) {
      this.log.log(
        'W',
        `state: ${this.lockPath} is held by another running instance; this one checks replays from the loaded state but does not persist`,
      );
      return false;
    }
    this.savedAt = this.memory.changes;
    this.intervalMs = intervalMs;
    this.timer = setInterval(() => this.maybeSave(), intervalMs);
    this.timer.unref();
    return true;
  }

  /** Saves if the memory changed and the interval has passed; cheap enough to call after every input chunk. */
  maybeSave(now = Date.now()): void {
    if (!this.locked || this.memory.changes === this.savedAt || now - this.lastWrite < this.intervalMs) return;
    this.lastWrite = now;
    this.trySave();
  }

  /** Final save and unlock, for shutdown. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (!this.locked) return;
    if (this.memory.changes !== this.savedAt) this.trySave();
    try {
      unlinkSync(this.lockPath);
    } catch {
      /* already gone */
    }
    this.locked = false;
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.log('E', `state: cannot read ${this.path}: ${(e as Error).message}; starting fresh`);
      return;
    }
    try {
      const entries = parseState(text);
      this.memory.merge(entries);
      this.log.log('I', `state: loaded ${entries.length} devices from ${this.path}`);
    } catch (e) {
      this.log.log('E', `state: ${this.path} is not a valid state file (${(e as Error).message}); starting fresh`);
    }
  }

  /**
   * Takes `FILE.lock` atomically with our pid already in it (written to a temp file, then hard-linked:
   * a link fails if the lock exists), so a second instance never sees an empty lock. A lock left by a
   * dead process is moved aside by rename, which only one contender can win.
   */
  private lock(): boolean {
    const mine = `${this.lockPath}.${process.pid}`;
    writeFileSync(mine, String(process.pid));
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(mine, this.lockPath);
          return true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          const holder = Number(safeRead(this.lockPath));
          if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) return false;
          try {
            renameSync(this.lockPath, `${mine}.stale`);
            unlinkSync(`${mine}.stale`);
          } catch {
            return false; // another instance took it over first
          }
        }
      }
      return false;
    } finally {
      unlinkSync(mine);
    }
  }

  private trySave(): void {
    try {
      this.save();
    } catch (e) {
      this.log.limited('E', 'state-save', `state: cannot save ${this.path}: ${(e as Error).message}`);
    }
  }

  private save(): void {
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, serialize(this.memory.entries()));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.savedAt = this.memory.changes;
  }
}

function serialize(entries: Iterable<[string, Accepted]>): string {
  const devices: StateDoc['devices'] = {};
  for (const [device, a] of entries) devices[device] = { time: a.time19, totals: [...a.totals], key: a.keyHex };
  return JSON.stringify({ version: 1, devices } satisfies StateDoc);
}

export function parseState(text: string): [string, Accepted][] {
  const doc = JSON.parse(text) as Partial<StateDoc>;
  if (doc?.version !== 1 || typeof doc.devices !== 'object' || doc.devices === null) throw new Error('unknown format or version');
  return Object.entries(doc.devices).map(([device, d]) => {
    if (
      typeof d?.time !== 'string' ||
      d.time.length !== 19 ||
      !Array.isArray(d.totals) ||
      !d.totals.every(Number.isFinite) ||
      typeof d.key !== 'string'
    ) {
      throw new Error(`bad entry for device "${device}"`);
    }
    return [device, { time19: d.time, totals: d.totals, keyHex: d.key }];
  });
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
