/**
 * The key registry file (`--keys`). Backward compatible with the reference validator's
 * `{"<device>": "<64 hex>"}`; a device may instead hold a list of keys with validity windows,
 * because a hard reset makes the plug generate a new key. Schema: keys.schema.json.
 */
import { signedTime } from './firmware';
import { NameIndex } from './name-index';
import { admitKeyBytes, admittedKey, hexSpanInto, KeyRejected, parsePublicKey, sameKeyBytes, type PointCheck, type PublicKey } from './pubkey';

export interface KeyEntry {
  readonly key: PublicKey;
  /** Inclusive bounds, compared with the signed (device-local) Time's 19 characters. */
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly revoked: boolean;
  readonly label?: string;
}

export interface KeyProblem { readonly device: string; readonly reason: string }

export interface KeyFile {
  readonly devices: ReadonlyMap<string, readonly KeyEntry[]>;
  /** Admitted keys over all devices. */
  readonly keyCount: number;
  /** Keys refused at load; the rest of the file still applies. */
  readonly rejected: readonly KeyProblem[];
}

/** The whole file is unusable (not JSON, wrong shape): callers keep their last good keys. */
export class KeyFileError extends Error {}

const ENTRY_FIELDS = new Set(['key', 'not_before', 'not_after', 'revoked', 'label']);

/**
 * `source` is the file's text or its UTF-8 bytes (the processor reads bytes: nothing of a large file
 * then lands on the JS heap but the device names). `previous` is the file loaded before (on reload):
 * keys it already admitted are reused as they are, so a reload checks only new keys and verifiers
 * keep their per-key caches.
 */
export function parseKeyFile(source: string | Uint8Array, fastCheck?: PointCheck, previous?: KeyFile): KeyFile {
  const src = typeof source === 'string' ? new TextEncoder().encode(source) : source;
  const before = previous?.devices instanceof KeyMap ? previous.devices : undefined;
  const devices = new KeyMap(Math.floor(src.length / SMALLEST_MEMBER) + 1);
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

/**
 * `"":"<64 hex digits>",`: no plain-key member is shorter, and n members with the braces take at least
 * 70n + 1 bytes, so no file holds more plain keys than its size over this, plus one.
 */
const SMALLEST_MEMBER = 70;
const scratch = new Uint8Array(32);
const utf8 = new TextDecoder('utf-8', { fatal: true });
const SP = 0x20, TAB = 0x09, LF = 0x0a, CR = 0x0d, QUOTE = 0x22, BSL = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d;

/** Whether src[start, end) is `"<64 hex digits>"`; if so its bytes are decoded into `out`. */
function plainHexKey(src: Uint8Array, start: number, end: number, out: Uint8Array): boolean {
  return end - start === 66 && src[start] === QUOTE && src[end - 1] === QUOTE && hexSpanInto(src, start + 1, out);
}

/** The whole file is read once more, only to report why it is unreadable (with line and column). */
function unreadable(src: Uint8Array): never {
  let text: string;
  try {
    text = utf8.decode(src);
  } catch {
    throw new KeyFileError('not valid UTF-8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new KeyFileError(`not valid JSON${jsonErrorLocation(text, e)}: ${(e as Error).message}`);
  }
  throw new KeyFileError(typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? 'unreadable JSON object' : 'must be a JSON object mapping device names to keys');
}

/**
 * The top-level members of the file, one at a time, as device name and value span. A registry of
 * 100,000 devices parsed whole would briefly cost several times its size; this walks the bytes and
 * parses one member at a time. Anything it does not expect is handed to JSON.parse, whose error
 * (with position) is reported.
 */
function* topLevelMembers(src: Uint8Array): Generator<[string, number, number]> {
  const ws = (i: number) => {
    while (i < src.length && (src[i] === SP || src[i] === TAB || src[i] === LF || src[i] === CR)) i++;
    return i;
  };
  let i = ws(0);
  if (src[i] !== OPEN_OBJECT) return unreadable(src);
  i = ws(i + 1);
  if (src[i] === CLOSE_OBJECT) return ws(i + 1) === src.length ? undefined : unreadable(src);
  for (;;) {
    if (src[i] !== QUOTE) return unreadable(src);
    const keyEnd = skipValue(src, i);
    const device = parseSpan(src, i, keyEnd);
    if (typeof device !== 'string') return unreadable(src);
    i = ws(keyEnd);
    if (src[i] !== COLON) return unreadable(src);
    const start = ws(i + 1);
    const end = skipValue(src, start);
    yield [device, start, end];
    i = ws(end);
    if (src[i] === CLOSE_OBJECT) return ws(i + 1) === src.length ? undefined : unreadable(src);
    if (src[i] !== COMMA) return unreadable(src);
    i = ws(i + 1);
  }
}

function parseSpan(src: Uint8Array, start: number, end: number): unknown {
  try {
    return JSON.parse(utf8.decode(src.subarray(start, end)));
  } catch {
    return unreadable(src);
  }
}

/** End of the JSON value starting at `i`: strings and nesting are skipped, validity is JSON.parse's job. */
function skipValue(src: Uint8Array, i: number): number {
  let depth = 0;
  for (; i < src.length; i++) {
    const c = src[i];
    if (c === QUOTE) {
      for (i++; i < src.length && src[i] !== QUOTE; i++) if (src[i] === BSL) i++;
      if (depth === 0) return i + 1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++;
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === 0) return i;
      if (--depth === 0) return i + 1;
    } else if (depth === 0 && (c === COMMA || c === SP || c === LF || c === CR || c === TAB)) return i;
  }
  return i;
}

function parseEntry(item: unknown, admit: (hex: unknown) => PublicKey): KeyEntry {
  if (typeof item === 'string') return { key: admit(item), revoked: false };
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new KeyRejected('entry must be a hex string or an object with "key"');
  }
  const o = item as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !ENTRY_FIELDS.has(k));
  if (unknown.length) throw new KeyRejected(`entry has unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')}`);
  if (o.revoked !== undefined && typeof o.revoked !== 'boolean') throw new KeyRejected('entry "revoked" must be true or false');
  if (o.label !== undefined && typeof o.label !== 'string') throw new KeyRejected('entry "label" must be a string');
  const notBefore = boundary(o.not_before, 'not_before', 'T00:00:00');
  const notAfter = boundary(o.not_after, 'not_after', 'T23:59:59');
  if (notBefore && notAfter && notBefore > notAfter) throw new KeyRejected('entry has not_before after not_after');
  return {
    key: admit(o.key),
    revoked: o.revoked === true,
    ...(notBefore && { notBefore }),
    ...(notAfter && { notAfter }),
    ...(typeof o.label === 'string' && { label: o.label }),
  };
}

/**
 * Device → keys, compact for the common case of one plain key per device: its 32 bytes go into one
 * shared array and its one-entry list is made when the device is first looked up. 100,000
 * registered devices then cost about 7 MB outside the collected heap, not tens of MB inside it.
 */
class KeyMap implements ReadonlyMap<string, readonly KeyEntry[]> {
  private readonly keyBytes: Uint8Array;
  private stored = 0;
  private readonly plain: NameIndex;
  private readonly lists = new Map<string, readonly KeyEntry[]>();
  private readonly made = new Map<string, readonly KeyEntry[]>();

  /**
   * Sized for `most` plain keys up front: a large file then leaves no outgrown arrays behind, which
   * would stay resident until the next full collection.
   */
  constructor(most: number) {
    this.keyBytes = new Uint8Array(32 * most);
    this.plain = new NameIndex(most);
  }

  /** Admits and stores a device's one plain key, unless `before` already admitted the same key for it. */
  setPlain(device: string, bytes: Uint8Array, fastCheck: PointCheck | undefined, before: KeyMap | undefined): void {
    const kept = before?.sameList(device, bytes);
    if (kept === undefined) admitKeyBytes(bytes, fastCheck);
    const index = this.stored++; // below `most`: every plain key took a member of at least SMALLEST_MEMBER bytes
    this.keyBytes.set(bytes, 32 * index);
    this.lists.delete(device);
    this.made.delete(device);
    this.plain.set(device, index); // a repeated name: the last one counts, as in JSON.parse
    if (kept) this.made.set(device, kept);
  }

  set(device: string, entries: readonly KeyEntry[]): void {
    this.plain.delete(device);
    this.made.delete(device);
    this.lists.set(device, entries);
  }

  /** Lookups keep the list they made, so a device's entries stay the same objects while it is active. */
  get(device: string): readonly KeyEntry[] | undefined {
    const list = this.lists.get(device) ?? this.made.get(device);
    if (list) return list;
    const index = this.plain.get(device);
    if (index === undefined) return undefined;
    const made = this.plainList(index);
    this.made.set(device, made);
    return made;
  }

  /**
   * Whether the device's plain key is `bytes`: then its list if one was made (an active device keeps
   * its objects, and so its verifier caches), else null. Undefined when the key is not the same.
   */
  private sameList(device: string, bytes: Uint8Array): readonly KeyEntry[] | null | undefined {
    const index = this.plain.get(device);
    if (index === undefined) return undefined;
    if (!sameKeyBytes(this.keyBytes, 32 * index, bytes, 0)) return undefined;
    return this.made.get(device) ?? null;
  }

  private plainList(index: number): readonly KeyEntry[] {
    return [{ key: admittedKey(this.keyBytes.slice(32 * index, 32 * index + 32)), revoked: false }];
  }

  has(device: string): boolean {
    return this.plain.get(device) !== undefined || this.lists.has(device);
  }

  get size(): number {
    return this.plain.size + this.lists.size;
  }

  *keys(): MapIterator<string> {
    for (const [device] of this.plain.entries()) yield device;
    yield* this.lists.keys();
  }

  /** Walks every device without keeping what it makes (listing 100,000 devices should not pin them). */
  *entries(): MapIterator<[string, readonly KeyEntry[]]> {
    for (const [device, index] of this.plain.entries()) yield [device, this.made.get(device) ?? this.plainList(index)];
    yield* this.lists.entries();
  }

  *values(): MapIterator<readonly KeyEntry[]> {
    for (const [, v] of this.entries()) yield v;
  }

  forEach(fn: (value: readonly KeyEntry[], key: string, map: ReadonlyMap<string, readonly KeyEntry[]>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }

  [Symbol.iterator](): MapIterator<[string, readonly KeyEntry[]]> {
    return this.entries();
  }
}

/**
 * Accepts `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` (device-local, like the signed Time). Bounds are
 * inclusive, so a bare date means the whole day: its first second for not_before, its last for not_after.
 */
function boundary(v: unknown, name: string, dayPart: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    const full = v.length === 10 ? `${v}${dayPart}` : v;
    const t = full.length === 19 ? signedTime(full) : undefined;
    if (t) return t;
  }
  throw new KeyRejected(`entry "${name}" must be "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS"`);
}

/** Whether a key may vouch for a reading signed at `time19`. */
export const keyValidAt = (e: KeyEntry, time19: string): boolean =>
  !e.revoked && (e.notBefore === undefined || time19 >= e.notBefore) && (e.notAfter === undefined || time19 <= e.notAfter);

/** The entries valid at `time19`: the array itself when all are, as for nearly every reading (no copy per reading). */
export function keysValidAt(entries: readonly KeyEntry[], time19: string): readonly KeyEntry[] {
  for (let i = 0; i < entries.length; i++) if (!keyValidAt(entries[i]!, time19)) return entries.filter((e) => keyValidAt(e, time19));
  return entries;
}

function jsonErrorLocation(text: string, e: unknown): string {
  const m = /position (\d+)/.exec((e as Error).message);
  if (!m) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}
