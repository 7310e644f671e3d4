/**
 * `--state FILE`: the device memory, persisted so that replays are caught across restarts.
 * Written atomically (temp file, fsync, rename), at most every `intervalMs` when it changed, and on
 * shutdown. Writes are synchronous and driven by the input loop as well as a timer: under a flood of
 * input, timers and async I/O can starve for seconds, which would widen what a kill -9 loses.
 * Telegraf may run two instances (docs/design.md §3); a lock file makes the second one run without
 * persistence instead of racing the first. A corrupt file means a fresh start, never a crash, and a
 * folder that is missing or not writable means memory only, retried, never a crash loop.
 */
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { userInfo } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { createExclusive, writeAtomic } from '../core/node/atomic-file';
import type { Accepted, LastAccepted } from './last-accepted';
import type { Logger } from './log';

interface StateDoc {
  readonly version: 1;
  readonly devices: Record<string, { time: string; totals: number[]; key: string }>;
}

/** Who holds the lock: this processor on this file (respected), or someone it cannot identify (retried). */
type LockOutcome = 'taken' | 'held' | 'unsure';

export class StateFile {
  private savedAt = -1;
  private lastWrite = 0;
  private intervalMs = 1000;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly lockPath: string;
  private locked = false;
  /** A save failed and none has succeeded since: said once, and the summary says memory-only. */
  private saveFailing = false;

  constructor(
    private readonly path: string,
    private readonly memory: LastAccepted,
    private readonly log: Logger,
    private readonly retryMs = 30_000,
  ) {
    this.lockPath = `${path}.lock`;
  }

  /**
   * Loads the file into memory and takes the lock. Returns false when it cannot persist: another
   * instance holds the lock, or the folder is missing or not writable (then retried every `retryMs`).
   */
  open(intervalMs: number): boolean {
    this.intervalMs = intervalMs;
    this.load();
    return this.acquire(true);
  }

  /** For the summary line: whether the memory reaches the file. */
  get mode(): 'file' | 'memory-only' {
    return this.locked && !this.saveFailing ? 'file' : 'memory-only';
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
    if (this.retryTimer) clearInterval(this.retryTimer);
    if (!this.locked) return;
    if (this.memory.changes !== this.savedAt) this.trySave();
    // Only our own lock: a lock taken over from us is another instance's now.
    if (Number(readSmall(this.lockPath)) === process.pid) {
      try {
        unlinkSync(this.lockPath);
      } catch {
        /* already gone */
      }
    }
    this.locked = false;
  }

  private acquire(first: boolean): boolean {
    let outcome: LockOutcome;
    try {
      outcome = this.lock();
    } catch (e) {
      if (first) {
        this.log.log(
          'E',
          `state: cannot write ${this.path}: ${problem(e, dirname(this.path))}; replay memory is kept in memory only (lost at restart) ` +
            `until then, retrying every ${this.retryMs / 1000} s`,
        );
        this.retryLater();
      }
      return false;
    }
    if (outcome !== 'taken') {
      if (first && outcome === 'held')
        this.log.log(
          'W',
          `state: ${this.lockPath} is held by another running instance; this one checks replays from the loaded state but does not persist`,
        );
      else if (first) {
        this.log.log(
          'W',
          `state: ${this.lockPath} names a running process that cannot be identified; not persisting for now, retrying every ${this.retryMs / 1000} s`,
        );
        this.retryLater();
      }
      return false;
    }
    this.locked = true;
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    if (first) this.savedAt = this.memory.changes;
    else {
      this.load(); // whatever reached the file meanwhile; the newer Time per device wins
      if (this.trySave()) this.log.log('I', `state: ${this.path} can be written now; saving there from now on`);
    }
    this.timer = setInterval(() => this.maybeSave(), this.intervalMs);
    this.timer.unref();
    return true;
  }

  private retryLater(): void {
    this.retryTimer ??= setInterval(() => this.acquire(false), this.retryMs);
    this.retryTimer.unref();
  }

  private load(): void {
    let text: string;
    try {
      text = readRegular(this.path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') return;
      const why = err.code === 'ELOOP' ? 'it is a symbolic link, which is not followed' : err.message;
      this.log.log('E', `state: cannot read ${this.path}: ${why}; starting fresh`);
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
   * Takes `FILE.lock` atomically with our pid already in it (written to a fresh temp file, then
   * hard-linked: a link fails if the lock exists), so a second instance never sees an empty lock. A
   * lock left by a dead process, or naming a process that is not this processor on this file (a
   * recycled pid), is moved aside by rename, which only one contender can win. Throws when the
   * folder does not take files.
   */
  private lock(): LockOutcome {
    const { fd, path: mine } = createExclusive(this.lockPath, 0o644);
    try {
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(mine, this.lockPath);
          return 'taken';
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          const holder = Number(readSmall(this.lockPath));
          if (Number.isInteger(holder) && holder > 0 && holder !== process.pid) {
            const who = this.identify(holder);
            if (who === 'this') return 'held';
            if (who === 'unknown') return 'unsure';
          }
          try {
            renameSync(this.lockPath, `${mine}.stale`); // moves a planted symlink itself, never its target
            unlinkSync(`${mine}.stale`);
          } catch {
            return 'unsure'; // another instance took it over first, or the folder refuses: look again later
          }
        }
      }
      return 'unsure';
    } finally {
      try {
        unlinkSync(mine);
      } catch {
        /* gone */
      }
    }
  }

  /** Whether a live `pid` is this processor on this state file, going by /proc (Linux). */
  private identify(pid: number): 'this' | 'other' | 'dead' | 'unknown' {
    if (!alive(pid)) return 'dead';
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      return 'unknown'; // no /proc, or hidden from us
    }
    const script = basename(process.argv[1] ?? 'processor.js');
    if (!args.some((a) => basename(a) === script)) return 'other'; // also a zombie, whose cmdline is empty
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      /* another user's process */
    }
    const target = canonical(resolve(this.path));
    let unsure = false;
    for (const arg of args) {
      const p = arg.startsWith('--state=') ? arg.slice('--state='.length) : arg;
      if (basename(p) !== basename(target)) continue;
      if (cwd === undefined && !p.startsWith('/')) unsure = true;
      else if (canonical(resolve(cwd ?? '/', p)) === target) return 'this';
    }
    return unsure ? 'unknown' : 'other';
  }

  /** True when the memory reached the file; a failure is said once until a save succeeds again. */
  private trySave(): boolean {
    try {
      writeAtomic(this.path, serialize(this.memory.entries()));
      this.savedAt = this.memory.changes;
      if (this.saveFailing) this.log.log('I', `state: saved ${this.path} again`);
      this.saveFailing = false;
      return true;
    } catch (e) {
      if (!this.saveFailing)
        this.log.log(
          'E',
          `state: cannot save ${this.path}: ${problem(e, dirname(this.path))}; replay memory is kept in memory only until a save succeeds`,
        );
      this.saveFailing = true;
      return false;
    }
  }
}

export function serialize(entries: Iterable<[string, Accepted]>): string {
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

/** What to do about a failed write in `folder`, for an operator reading Telegraf's log. */
function problem(e: unknown, folder: string): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return `folder ${folder} does not exist (create it, writable by the user Telegraf runs this processor as: ${whoAmI()})`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied in ${folder} (chown it to the user Telegraf runs this processor as: ${whoAmI()}; or point --state elsewhere)`;
    case 'EROFS':
      return `${folder} is on a read-only file system (point --state at a writable folder, e.g. /var/lib/meterproof)`;
    case 'ENOTDIR':
      return `part of ${folder} is not a folder`;
    case 'EISDIR':
      return 'it is a folder, not a file';
    case 'ENOSPC':
    case 'EDQUOT':
      return `no space left for ${folder}`;
    default:
      return err.message;
  }
}

function whoAmI(): string {
  const uid = process.getuid?.();
  try {
    return `${userInfo().username}, uid ${uid}`;
  } catch {
    return `uid ${uid}`; // no passwd entry, as in some containers
  }
}

/** A regular file's text, never through a symlink and never blocking on a FIFO. */
function readRegular(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** A lock file's content, or '' when it is anything but a readable regular file. */
function readSmall(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return '';
    const buf = Buffer.alloc(64);
    return buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0)).trim();
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function canonical(path: string): string {
  try {
    return `${realpathSync(dirname(path))}/${basename(path)}`;
  } catch {
    return path;
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
