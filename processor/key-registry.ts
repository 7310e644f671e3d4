/**
 * The live key registry behind `--keys`: loaded at start (fatal if unusable), reloaded when the file
 * changes or on SIGHUP. A bad new file never replaces good keys. Swaps happen between metrics, so
 * no metric is dropped or reordered by a reload.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseKeyFile, KeyFileError, type KeyEntry, type KeyFile } from '../core/keyfile';
import type { PointCheck } from '../core/pubkey';
import type { Logger } from './log';
import type { KeyLookup } from './verdict';

export class KeyRegistry implements KeyLookup {
  private current: KeyFile;
  private lastStamp = '';
  private lastPoll = 0;
  private pollMs = 1000;
  reloads = 0;

  /** Throws when the file cannot be read or parsed: there are no last good keys to fall back on. */
  constructor(
    private readonly path: string,
    private readonly log: Logger,
    private readonly fastCheck?: PointCheck,
  ) {
    this.lastStamp = this.stamp();
    this.current = this.read();
    this.report(this.current, 'loaded');
  }

  keysFor(device: string): readonly KeyEntry[] | undefined {
    return this.current.devices.get(device);
  }

  /** Re-reads the file if it changed (or when forced, as on SIGHUP). */
  reload(force = false): void {
    const stamp = this.stamp();
    if (!force && stamp === this.lastStamp) return;
    this.lastStamp = stamp; // a bad file is reported once, not on every poll
    try {
      const next = this.read();
      this.current = next;
      this.reloads++;
      this.report(next, 'reloaded');
    } catch (e) {
      this.log.log('E', `keys: ${this.path}: ${(e as Error).message}; keeping the last good keys (${this.current.devices.size} devices)`);
    }
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

  private stamp(): string {
    try {
      const s = statSync(this.path);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
  }

  private read(): KeyFile {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(this.path);
    } catch (e) {
      throw new KeyFileError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return parseKeyFile(bytes, this.fastCheck, this.current);
  }

  private report(k: KeyFile, verb: string): void {
    for (const r of k.rejected) this.log.log('E', `keys: ${this.path}: rejected ${r.reason}`);
    this.log.log('I', `keys: ${verb} ${k.keyCount} keys for ${k.devices.size} devices from ${this.path}`);
  }
}
