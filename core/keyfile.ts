/**
 * The key registry file (`--keys`). Backward compatible with the reference validator's
 * `{"<device>": "<64 hex>"}`; a device may instead hold a list of keys with validity windows,
 * because a hard reset makes the plug generate a new key. Schema: keys.schema.json.
 * Reading it takes keyfile-members.ts (walks the bytes), key-entry.ts (admits one entry) and
 * key-store.ts (holds the devices' keys); this file puts them together.
 */
import { parseEntry, type KeyEntry } from './key-entry';
import { KeyStore } from './key-store';
import { parseSpan, plainHexKey, topLevelMembers } from './keyfile-members';
import { KeyRejected, parsePublicKey, type PointCheck, type PublicKey } from './pubkey';

export { keyValidAt, keysValidAt, type KeyEntry } from './key-entry';
export { KeyFileError } from './keyfile-members';

export interface KeyProblem {
  readonly device: string;
  readonly reason: string;
}

export interface KeyFile {
  readonly devices: ReadonlyMap<string, readonly KeyEntry[]>;
  /** Admitted keys over all devices. */
  readonly keyCount: number;
  /** Keys refused at load; the rest of the file still applies. */
  readonly rejected: readonly KeyProblem[];
}

/**
 * `source` is the file's text or its UTF-8 bytes (the processor reads bytes: nothing of a large file
 * then lands on the JS heap but the device names). `previous` is the file loaded before (on reload):
 * keys it already admitted are reused as they are, so a reload checks only new keys and verifiers
 * keep their per-key caches.
 */
export function parseKeyFile(source: string | Uint8Array, fastCheck?: PointCheck, previous?: KeyFile): KeyFile {
  const src = withoutBom(typeof source === 'string' ? new TextEncoder().encode(source) : source);
  const before = previous?.devices instanceof KeyStore ? previous.devices : undefined;
  const devices = new KeyStore(Math.floor(src.length / SMALLEST_MEMBER) + 1);
  const admit = (device: string, hex: unknown): PublicKey => {
    if (typeof hex === 'string') {
      const lower = hex.toLowerCase();
      const known = before?.get(device)?.find((e) => e.key.hex === lower);
      if (known) return known.key;
    }
    return parsePublicKey(hex, fastCheck);
  };
  const rejected: KeyProblem[] = [];
  let keyCount = 0;
  for (const [device, start, end] of topLevelMembers(src)) {
    // A device named twice: the last member counts, as in JSON.parse, even when its key is refused.
    if (devices.has(device)) {
      keyCount -= devices.get(device)!.length;
      devices.delete(device);
    }
    try {
      if (plainHexKey(src, start, end, scratch)) {
        devices.setPlain(device, scratch, fastCheck, before);
        keyCount++;
        continue;
      }
    } catch (e) {
      if (!(e instanceof KeyRejected)) throw e;
      rejected.push({ device, reason: `device "${device}": key ${e.message}` });
      continue;
    }
    const value = parseSpan(src, start, end);
    if (typeof value === 'string') {
      try {
        devices.set(device, [{ key: admit(device, value), revoked: false }]);
        keyCount++;
      } catch (e) {
        if (!(e instanceof KeyRejected)) throw e;
        rejected.push({ device, reason: `device "${device}": key ${e.message}` });
      }
      continue;
    }
    const items = Array.isArray(value) ? value : [value];
    if (items.length === 0) rejected.push({ device, reason: `device "${device}": the key list is empty` });
    const entries: KeyEntry[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        entries.push(parseEntry(items[i], (hex) => admit(device, hex)));
      } catch (e) {
        if (!(e instanceof KeyRejected)) throw e;
        const where = Array.isArray(value) ? `device "${device}" key #${i + 1}` : `device "${device}"`;
        rejected.push({ device, reason: `${where}: key ${e.message}` });
      }
    }
    if (entries.length > 0) devices.set(device, entries);
    keyCount += entries.length;
  }
  return { devices, keyCount, rejected };
}

/** Editors on some systems save a UTF-8 byte order mark; JSON has none, so it is skipped. */
function withoutBom(src: Uint8Array): Uint8Array {
  return src[0] === 0xef && src[1] === 0xbb && src[2] === 0xbf ? src.subarray(3) : src;
}

/**
 * `"":"<64 hex digits>",`: no plain-key member is shorter, and n members with the braces take at least
 * 70n + 1 bytes, so no file holds more plain keys than its size over this, plus one.
 */
const SMALLEST_MEMBER = 70;
const scratch = new Uint8Array(32);
