/**
 * The live key registry behind `--keys`: loaded at start (fatal if unusable), reloaded when the file
 * changes or on SIGHUP. A bad new file never replaces good keys. Swaps happen between metrics, so
 * no metric is dropped or reordered by a reload.
 *
 * All file access is asynchronous and refuses anything but a regular file: a FIFO, a device or a
 * hung mount at the key path must not stall the loop that answers metrics, nor make it deaf to
 * SIGTERM. One read at a time: requests meanwhile (a storm of SIGHUPs) fold into one more.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { parseKeyFile, KeyFileError, type KeyEntry, type KeyFile } from '../core/keyfile';
import type { PointCheck } from '../core/pubkey';
import type { Logger } from './log';
import type { KeyLookup } from './verdict';

/** How long a reload may take before it is reported (a hung mount); it keeps running, alone. */
const RELOAD_TIMEOUT_MS = 5000;

export class KeyRegistry implements KeyLookup {
  private current: KeyFile = parseKeyFile('{}'); // until start() has loaded the file
  private started = false;
  private lastStamp = '';
  private lastPoll = 0;
  private pollMs = 1000;
  private reading: Promise<void> | undefined;
  private forceAgain = false;
  reloads = 0;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    private readonly fastCheck?: PointCheck,
  ) {}

  /** The first load. Rejects with a KeyFileError when the file is unusable: there are no last good keys to fall back on. */
  async start(timeoutMs = 10_000): Promise<void> {
    const first = (async () => {
      this.lastStamp = await this.stamp();
      const k = await this.read();
      this.current = k;
      this.started = true;
      this.report(k, 'loaded');
    })();
    this.reading = first.then(
      () => undefined,
      () => undefined,
    );
    void this.reading.then(() => this.settled());
    await withTimeout(first, timeoutMs, () => new KeyFileError(`reading took over ${timeoutMs / 1000} s (a hung mount?)`));
  }

  /** A read is under way (possibly stuck on a hung mount, which would keep the process from exiting). */
  get busy(): boolean {
    return this.reading !== undefined;
  }

  keysFor(device: string): readonly KeyEntry[] | undefined {
    return this.current.devices.get(device);
  }

  /** Re-reads the file if it changed (or when forced, as on SIGHUP), in the background. */
  reload(force = false): void {
    if (this.reading) {
      this.forceAgain ||= force; // a poll meanwhile is redundant; a SIGHUP asks for one more read after it
      return;
    }
    const done = this.refresh(force);
    this.reading = done;
    void withTimeout(done, RELOAD_TIMEOUT_MS, () => new Error('timeout')).catch(() =>
      this.log.log(
        'E',
        `keys: ${this.path}: reading takes over ${RELOAD_TIMEOUT_MS / 1000} s (a hung mount?); keeping the last good keys meanwhile`,
      ),
    );
    void done.then(() => this.settled());
  }

  /**
   * Polls the file's mtime, size and inode (works on every filesystem and catches replace-by-rename)
   * from a timer and, through `poll`, from the input loop, where timers may starve under load.
   */
  watch(intervalMs: number): () => void {
    this.pollMs = intervalMs;
    const timer = setInterval(() => this.poll(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  poll(now = Date.now()): void {
    if (now - this.lastPoll < this.pollMs) return;
    this.lastPoll = now;
    this.reload();
  }

  private settled(): void {
    this.reading = undefined;
    if (this.forceAgain && this.started) {
      this.forceAgain = false;
      this.reload(true);
    }
  }

  /** Never rejects: problems are logged and the last good keys stay. */
  private async refresh(force: boolean): Promise<void> {
    try {
      const stamp = await this.stamp();
      if (!force && stamp === this.lastStamp) return;
      this.lastStamp = stamp; // a bad file is reported once, not on every poll
      const next = await this.read();
      this.current = next;
      this.reloads++;
      this.report(next, 'reloaded');
    } catch (e) {
      this.log.log('E', `keys: ${this.path}: ${(e as Error).message}; keeping the last good keys (${this.current.devices.size} devices)`);
    }
  }

  private async stamp(): Promise<string> {
    try {
      const s = await stat(this.path);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
  }

  private async read(): Promise<KeyFile> {
    let bytes: Uint8Array;
    try {
      // O_NONBLOCK: opening a FIFO does not wait for a writer; for a regular file it changes nothing.
      const fh = await open(this.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
      try {
        const s = await fh.stat();
        if (!s.isFile()) throw new KeyFileError(`not a regular file (${kind(s)}); refusing to read it`);
        bytes = await fh.readFile();
      } finally {
        await fh.close();
      }
    } catch (e) {
      if (e instanceof KeyFileError) throw e;
      throw new KeyFileError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return parseKeyFile(bytes, this.fastCheck, this.current);
  }

  private report(k: KeyFile, verb: string): void {
    for (const r of k.rejected) this.log.log('E', `keys: ${this.path}: rejected ${r.reason}`);
    this.log.log('I', `keys: ${verb} ${k.keyCount} keys for ${k.devices.size} devices from ${this.path}`);
  }
}

function kind(s: { isFIFO(): boolean; isDirectory(): boolean; isSocket(): boolean; isCharacterDevice(): boolean }): string {
  return s.isFIFO()
    ? 'a FIFO'
    : s.isDirectory()
      ? 'a folder'
      : s.isSocket()
        ? 'a socket'
        : s.isCharacterDevice()
          ? 'a device'
          : 'not a file';
}

/** Rejects with `timeout()` if `p` has not settled within `ms`; `p` itself runs on. */
function withTimeout<T>(p: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
