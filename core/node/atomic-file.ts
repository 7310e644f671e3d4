/**
 * Files written beside a file someone else may reach too (state, lock, key file): temporary names
 * are unpredictable and created exclusively, so a symlink or file planted at one is never followed
 * or reused; the result replaces the target by rename.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fchownSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY } = constants;

/** Creates `${prefix}.<random>` exclusively (never through a symlink); a clash is retried with a new name. */
export function createExclusive(prefix: string, mode = 0o666, suffix = randomSuffix): { fd: number; path: string } {
  for (let attempt = 0; ; attempt++) {
    const path = `${prefix}.${suffix()}`;
    try {
      return { fd: openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode), path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 4) throw e;
    }
  }
}

export interface AtomicWriteOptions {
  /** Set exactly, whatever the umask (otherwise the umask applies to 0666). */
  readonly mode?: number;
  /** Give the new file this owner where permitted (keeps a key file its owner's). */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Also fsync the folder, so the rename itself survives a power loss. */
  readonly syncFolder?: boolean;
  readonly suffix?: () => string;
}

/** Writes `data` to a fresh temp file, fsyncs it and renames it over `path`. The temp file never outlives a failure. */
export function writeAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const { fd, path: tmp } = createExclusive(`${path}.tmp`, opts.mode ?? 0o666, opts.suffix);
  try {
    try {
      if (opts.mode !== undefined) fchmodSync(fd, opts.mode);
      if (opts.owner) {
        try {
          fchownSync(fd, opts.owner.uid, opts.owner.gid);
        } catch {
          /* not ours to give away: the file keeps our ownership */
        }
      }
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* renamed or already gone */
    }
    throw e;
  }
  if (opts.syncFolder) syncFolder(dirname(path));
}

/** Best effort: some filesystems refuse fsync on a folder, which then has nothing to flush. */
export function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(folder, O_RDONLY);
    fsyncSync(fd);
  } catch {
    /* EINVAL/EISDIR on filesystems without folder fsync */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export const randomSuffix = (): string => randomBytes(8).toString('hex');
