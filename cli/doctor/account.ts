/**
 * The account doctor checks for (Telegraf's, by default) and what that account may do: read a file,
 * write a folder, run a program. As root it asks the kernel, by running `test` or the program itself as
 * that account (util-linux `setpriv`, with its supplementary groups); as the same account it asks
 * `access(2)`; as someone else without root it can only judge from mode bits, and says so.
 */
import { spawnSync, type SpawnSyncOptionsWithStringEncoding, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';

export interface Account {
  readonly name: string;
  /** The primary group's name (numeric when it has none). */
  readonly group: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

/** `stat`, or undefined when the path does not exist or you may not look (EACCES): never throws. */
export function look(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** systemd's PATH for services (and the official Telegraf image's): no nvm, no ~/.local. */
export const SERVICE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function id(args: string[]): string | undefined {
  const r = spawnSync('id', args, { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${SERVICE_PATH}` } });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The account named (or numbered) `user`, through NSS as `id` sees it; undefined when there is none. */
export function lookupAccount(user: string): Account | undefined {
  const name = id(['-un', '--', user]);
  if (name === undefined) return undefined;
  const [uid, gid, groups] = [id(['-u', '--', user]), id(['-g', '--', user]), id(['-G', '--', user])];
  if (uid === undefined || gid === undefined) return undefined;
  const group = id(['-gn', '--', user]) ?? gid;
  return { name, group, uid: Number(uid), gid: Number(gid), groups: (groups ?? gid).split(/\s+/).map(Number) };
}

export function currentAccount(): Account {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = String(process.getuid!());
  }
  const group = id(['-gn']) ?? String(process.getgid!());
  return { name, group, uid: process.getuid!(), gid: process.getgid!(), groups: process.getgroups!() };
}

export type Need = 'read' | 'write' | 'exec';

export interface RunResult {
  /** Exit status; null when the program could not be started or was killed. */
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How doctor learns what the account may do, fixed by who runs doctor. */
export class AccountAccess {
  /** 'self': doctor runs as the account; 'switch': as root, acting as it; 'bits': as another user. */
  readonly how: 'self' | 'switch' | 'bits';

  constructor(readonly account: Account) {
    const me = process.getuid!();
    this.how = account.uid === me ? 'self' : me === 0 ? 'switch' : 'bits';
  }

  /** Who programs run as: the account, or you in 'bits' mode. */
  get runner(): string {
    return this.how === 'bits' ? currentAccount().name : this.account.name;
  }

  /** The PATH the account's Telegraf would search: yours when checking yourself, else systemd's. */
  get path(): string {
    return this.how === 'self' ? (process.env.PATH ?? SERVICE_PATH) : SERVICE_PATH;
  }

  /** Whether the account may read the file, or write into the folder (w and x), or run the file. */
  can(path: string, need: Need): boolean {
    switch (this.how) {
      case 'self': {
        const mode = need === 'read' ? constants.R_OK : need === 'write' ? constants.W_OK | constants.X_OK : constants.X_OK;
        try {
          accessSync(path, mode);
          return true;
        } catch {
          return false;
        }
      }
      case 'switch': {
        const flags = need === 'read' ? ['-r'] : need === 'write' ? ['-w', '-x'] : ['-x'];
        return flags.every((flag) => this.run('test', [flag, path]).status === 0);
      }
      case 'bits':
        return byModeBits(this.account, path, need);
    }
  }

  /** The first folder above `path` that the account cannot enter, if any. */
  blockedFolder(path: string): string | undefined {
    const folders: string[] = [];
    for (let d = dirname(resolve(path)); ; d = dirname(d)) {
      folders.unshift(d);
      if (d === dirname(d)) break;
    }
    return folders.find((d) => !this.can(d, 'exec'));
  }

  /** Runs a program as the account (as yourself in 'bits' mode), with `PATH` set to `this.path`. */
  run(file: string, args: readonly string[], timeoutMs = 15_000): RunResult {
    const env = { PATH: this.path, LANG: 'C.UTF-8' };
    const options: SpawnSyncOptionsWithStringEncoding = { encoding: 'utf8', timeout: timeoutMs, env, stdio: ['ignore', 'pipe', 'pipe'] };
    let r: SpawnSyncReturns<string>;
    if (this.how === 'switch') {
      const { uid, gid } = this.account;
      r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', file, ...args], options);
      // No setpriv (util-linux): Node's own switch, which drops supplementary groups.
      if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') r = spawnSync(file, args, { ...options, uid, gid });
    } else {
      r = spawnSync(file, args, options);
    }
    const error = r.error ? `${r.error.message}\n` : '';
    return { status: r.status, stdout: r.stdout ?? '', stderr: error + (r.stderr ?? '') };
  }
}

/** `access(2)` for another account from the mode bits alone (no ACLs): each folder above needs x. */
function byModeBits(a: Account, path: string, need: Need): boolean {
  const full = resolve(path);
  for (let d = dirname(full); ; d = dirname(d)) {
    const st = look(d);
    if (!st || !allows(st, a, 1)) return false;
    if (d === dirname(d)) break;
  }
  const st = look(full);
  if (!st) return false;
  return need === 'read' ? allows(st, a, 4) : need === 'write' ? allows(st, a, 2) && allows(st, a, 1) : allows(st, a, 1);
}

function allows(st: Stats, a: Account, bit: 4 | 2 | 1): boolean {
  if (a.uid === 0) return bit !== 1 || st.isDirectory() || (st.mode & 0o111) !== 0;
  const shift = st.uid === a.uid ? 6 : st.gid === a.gid || a.groups.includes(st.gid) ? 3 : 0;
  return ((st.mode >> shift) & bit) !== 0;
}

/** The first executable file called `name` on `pathVar`. */
export function which(name: string, pathVar: string): string | undefined {
  for (const dir of pathVar.split(':')) {
    if (!dir) continue;
    const candidate = resolve(dir, name);
    const st = look(candidate);
    if (st?.isFile() && (st.mode & 0o111) !== 0) return candidate;
  }
  return undefined;
}
