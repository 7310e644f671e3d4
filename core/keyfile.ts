/**
 * The key registry file (`--keys`). Backward compatible with the reference validator's
 * `{"<device>": "<64 hex>"}`; a device may instead hold a list of keys with validity windows,
 * because a hard reset makes the plug generate a new key. Schema: keys.schema.json.
 */
import { signedTime } from './firmware';
import { KeyRejected, parsePublicKey, type PointCheck, type PublicKey } from './pubkey';

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
 * `previous` is the file loaded before (on reload): keys it already admitted are reused as they are,
 * so a reload checks only new keys and verifiers keep their per-key caches.
 */
export function parseKeyFile(text: string, fastCheck?: PointCheck, previous?: KeyFile): KeyFile {
  const devices = new KeyMap();
  const admit = (device: string, hex: unknown): PublicKey => {
    if (typeof hex === 'string') {
      const lower = hex.toLowerCase();
      const known = previous?.devices.get(device)?.find((e) => e.key.hex === lower);
      if (known) return known.key;
    }
    return parsePublicKey(hex, fastCheck);
  };
  const rejected: KeyProblem[] = [];
  let keyCount = 0;
  for (const [device, value] of topLevelEntries(text)) {
    if (typeof value === 'string') {
      try {
        devices.setPlain(device, admit(device, value));
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
 * The top-level members of the file, one at a time. A registry of 100,000 devices parsed whole
 * would briefly cost several times its size; this walks the text and parses one member at a time.
 * Anything it does not expect is handed to JSON.parse, whose error (with position) is reported.
 */
function* topLevelEntries(text: string): Generator<[string, unknown]> {
  const fail = (): never => {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new KeyFileError(`not valid JSON${jsonErrorLocation(text, e)}: ${(e as Error).message}`);
    }
    throw new KeyFileError(typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? 'unreadable JSON object' : 'must be a JSON object mapping device names to keys');
  };
  const ws = (i: number) => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
    return i;
  };
  let i = ws(0);
  if (text[i] !== '{') return fail();
  i = ws(i + 1);
  if (text[i] === '}') return ws(i + 1) === text.length ? undefined : fail();
  for (;;) {
    if (text[i] !== '"') return fail();
    const keyEnd = skipValue(text, i);
    const device = parseSpan(text, i, keyEnd, fail) as string;
    i = ws(keyEnd);
    if (text[i] !== ':') return fail();
    const start = ws(i + 1);
    const end = skipValue(text, start);
    yield [device, parseSpan(text, start, end, fail)];
    i = ws(end);
    if (text[i] === '}') return ws(i + 1) === text.length ? undefined : fail();
    if (text[i] !== ',') return fail();
    i = ws(i + 1);
  }
}

function parseSpan(text: string, start: number, end: number, fail: () => never): unknown {
  try {
    return JSON.parse(text.slice(start, end));
  } catch {
    return fail();
  }
}

/** End of the JSON value starting at `i`: strings and nesting are skipped, validity is JSON.parse's job. */
function skipValue(text: string, i: number): number {
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth === 0) return i + 1;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (depth === 0) return i;
      if (--depth === 0) return i + 1;
    } else if (depth === 0 && (c === ',' || c === ' ' || c === '\n' || c === '\r' || c === '\t')) return i;
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
 * Device → keys, compact for the common case of one plain key per device: only the key is stored,
 * and its one-entry list is made when the device is first looked up. 100,000 registered devices
 * then cost a few MB, not tens.
 */
class KeyMap implements ReadonlyMap<string, readonly KeyEntry[]> {
  private readonly store = new Map<string, PublicKey | readonly KeyEntry[]>();
  private readonly made = new Map<string, readonly KeyEntry[]>();

  setPlain(device: string, key: PublicKey): void {
    this.store.set(device, key);
  }

  set(device: string, entries: readonly KeyEntry[]): void {
    this.store.set(device, entries);
  }

  /** Lookups keep the list they made, so a device's entries stay the same objects while it is active. */
  get(device: string): readonly KeyEntry[] | undefined {
    const v = this.store.get(device);
    if (v === undefined || Array.isArray(v)) return v as readonly KeyEntry[] | undefined;
    let list = this.made.get(device);
    if (!list) this.made.set(device, (list = [{ key: v as PublicKey, revoked: false }]));
    return list;
  }

  has(device: string): boolean {
    return this.store.has(device);
  }

  get size(): number {
    return this.store.size;
  }

  keys(): MapIterator<string> {
    return this.store.keys();
  }

  /** Walks every device without keeping what it makes (listing 100,000 devices should not pin them). */
  *entries(): MapIterator<[string, readonly KeyEntry[]]> {
    for (const [device, v] of this.store) yield [device, Array.isArray(v) ? (v as readonly KeyEntry[]) : this.made.get(device) ?? [{ key: v as PublicKey, revoked: false }]];
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

function jsonErrorLocation(text: string, e: unknown): string {
  const m = /position (\d+)/.exec((e as Error).message);
  if (!m) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}
