/** `meterproof keys`: list, check, add and revoke keys in a registry file (the processor's `--keys`). */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { KeyFileError, parseKeyFile, type KeyEntry } from '../core/keyfile';
import { KeyRejected, parsePublicKey } from '../core/pubkey';
import { writeAtomic } from '../core/node/atomic-file';
import { CannotRun, UsageError, type Command } from './command';
import { textTable } from '../core/text-table';
import { keysSubcommandAt, runKeysSubcommand } from './keys-subcommands';

const HELP = `Usage: meterproof keys <list|check|add|revoke|enroll|discover|rotate> --keys FILE [options]

  list                         devices, key fingerprints, validity windows, revoked flags, labels
  check                        validate the file: exit 0 when every key is admitted, 1 when some are refused
  add --device D --key HEX [--not-before T] [--not-after T] [--label L]
                               register a key (e.g. after a hard reset); T is YYYY-MM-DD[THH:MM:SS]
  revoke --device D (--key HEX | --fingerprint FP) [--not-after T]
                               mark a key revoked, or end its validity at T instead
  enroll --plug URL [--device D] [--web-password PW] [--yes]
                               register the key shown on a plug's Information page
  discover --mqtt URL [--wait S] [--enroll] [--web-password PW] [--yes]
                               list the plugs announced on MQTT and their key state; --enroll registers new ones
  rotate --device D --key HEX [--at T] [--yes]
                               after a hard reset: end the old key(s) at T and register the new key from T
  (\`meterproof keys <command> --help\` for enroll, discover and rotate)

The file is rewritten atomically; a running processor reloads it within its --reload-interval.
`;

/** SHA-256 of the key, first 8 bytes as colon-separated hex: short enough to read aloud. */
export const fingerprint = (keyHex: string): string =>
  createHash('sha256').update(Buffer.from(keyHex, 'hex')).digest('hex').slice(0, 16).match(/../g)!.join(':');

type RawEntry = string | Record<string, unknown>;

export const keys: Command = {
  summary: 'list, check, add, revoke, enroll, discover or rotate device public keys in a key file',
  async run(args) {
    const at = keysSubcommandAt(args);
    if (at >= 0) return runKeysSubcommand(args, at);
    const { values: v, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        keys: { type: 'string' },
        device: { type: 'string' },
        key: { type: 'string' },
        fingerprint: { type: 'string' },
        'not-before': { type: 'string' },
        'not-after': { type: 'string' },
        label: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [sub] = positionals;
    if (v.help || !sub) {
      process.stdout.write(HELP);
      return v.help ? 0 : 2;
    }
    if (!v.keys) throw new UsageError('--keys FILE is required');
    const file = v.keys;
    const read = (): string => {
      try {
        return readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
      }
    };
    const load = (text: string) => {
      try {
        return parseKeyFile(text);
      } catch (e) {
        if (e instanceof KeyFileError) throw new UsageError(`${file}: ${e.message}`);
        throw e;
      }
    };

    switch (sub) {
      case 'list': {
        const k = load(read());
        const rows = [...k.devices].flatMap(([device, list]) => list.map((e) => describe(device, e)));
        process.stdout.write(textTable(['device', 'fingerprint', 'key', 'valid', 'state', 'label'], rows));
        for (const r of k.rejected) process.stdout.write(`refused: ${r.reason}\n`);
        return 0;
      }
      case 'check': {
        const k = load(read());
        for (const r of k.rejected) process.stderr.write(`refused: ${r.reason}\n`);
        process.stdout.write(`${file}: ${k.keyCount} keys admitted for ${k.devices.size} devices, ${k.rejected.length} refused\n`);
        return k.rejected.length ? 1 : 0;
      }
      case 'add':
      case 'revoke': {
        if (!v.device) throw new UsageError('--device is required');
        // `add` starts a missing key file; `revoke` needs one.
        const doc = JSON.parse(sub === 'add' && !existsSync(file) ? '{}' : read()) as Record<string, RawEntry | RawEntry[]>;
        const list = ([] as RawEntry[]).concat(doc[v.device] ?? []).map((e) => (typeof e === 'string' ? { key: e } : e));
        if (sub === 'add') {
          if (!v.key) throw new UsageError('--key HEX is required');
          try {
            parsePublicKey(v.key);
          } catch (e) {
            if (e instanceof KeyRejected) throw new UsageError(`key ${e.message}`);
            throw e;
          }
          if (list.some((e) => String(e.key).toLowerCase() === v.key!.toLowerCase()))
            throw new UsageError(`device "${v.device}" already has this key`);
          list.push({
            key: v.key.toLowerCase(),
            ...(v['not-before'] && { not_before: v['not-before'] }),
            ...(v['not-after'] && { not_after: v['not-after'] }),
            ...(v.label && { label: v.label }),
          });
        } else {
          const target = list.find((e) =>
            v.key
              ? String(e.key).toLowerCase() === v.key.toLowerCase()
              : v.fingerprint
                ? fingerprint(String(e.key)).replace(/:/g, '') === v.fingerprint.replace(/:/g, '').toLowerCase()
                : false,
          );
          if (!target) throw new UsageError(`device "${v.device}" has no such key (give --key HEX or --fingerprint FP)`);
          if (v['not-after']) target.not_after = v['not-after'];
          else target.revoked = true;
        }
        doc[v.device] = list;
        const text = `${JSON.stringify(doc, null, 2)}\n`;
        const k = load(text); // refuse to write a file the processor would reject
        const refused = k.rejected.filter((r) => r.device === v.device);
        if (refused.length) throw new UsageError(refused.map((r) => r.reason).join('; '));
        const secondKey = sub === 'add' && list.length > 1 && !v['not-before'];
        writeKeyFile(file, text);
        process.stdout.write(`${sub === 'add' ? 'added' : 'updated'} key for device "${v.device}" in ${file}\n`);
        if (secondKey) {
          process.stderr.write(
            `meterproof keys: warning: device "${v.device}" already has a key and the new one has no --not-before: ` +
              'a Total below the last accepted one will then be a rollback, even from the new key ' +
              '(after a hard reset use `meterproof keys rotate`, or give --not-before the reset time)\n',
          );
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown keys command "${sub}" (list, check, add, revoke, enroll, discover, rotate)`);
    }
  },
};

/**
 * Atomically, keeping the owner, and readable by the processor whatever our umask: an existing
 * file keeps its mode plus read for all (public keys are no secret), a new one is 0644 in folders
 * made 0755.
 */
function writeKeyFile(file: string, text: string): void {
  try {
    let old: Stats | undefined;
    try {
      old = statSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (!old) makeFolders(dirname(file));
    writeAtomic(file, text, {
      mode: old ? (old.mode & 0o777) | 0o444 : 0o644,
      ...(old && { owner: { uid: old.uid, gid: old.gid } }),
      syncFolder: true,
    });
  } catch (e) {
    throw new CannotRun(`cannot write ${file}: ${writeProblem(e as NodeJS.ErrnoException, file)}`);
  }
}

/** `mkdir -p` with mode 0755 on each folder it creates (mkdir's own mode is cut by the umask). */
function makeFolders(folder: string): void {
  const first = mkdirSync(folder, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  for (let f = folder; ; f = dirname(f)) {
    chmodSync(f, 0o755);
    if (f === first || f === dirname(f)) break;
  }
}

function writeProblem(e: NodeJS.ErrnoException, file: string): string {
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied (run with sudo, or as the owner of ${nearestFolder(dirname(file))})`;
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space left on device';
    case 'ENOTDIR':
      return 'part of its path is not a folder';
    case 'EISDIR':
      return 'it is a folder';
    default:
      return e.code ?? e.message;
  }
}

/** The folder that exists, for "the owner of …": a missing key file's folder may be missing too. */
function nearestFolder(folder: string): string {
  while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
  return folder;
}

function describe(device: string, e: KeyEntry): string[] {
  const window = e.notBefore || e.notAfter ? `${e.notBefore ?? '…'} to ${e.notAfter ?? '…'}` : 'always';
  return [device, fingerprint(e.key.hex), `${e.key.hex.slice(0, 12)}…`, window, e.revoked ? 'REVOKED' : 'active', e.label ?? ''];
}
