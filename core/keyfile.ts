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
  /** Keys refused at load; the rest of the file still applies. */
  readonly rejected: readonly KeyProblem[];
}

/** The whole file is unusable (not JSON, wrong shape): callers keep their last good keys. */
export class KeyFileError extends Error {}

const ENTRY_FIELDS = new Set(['key', 'not_before', 'not_after', 'revoked', 'label']);

export function parseKeyFile(text: string, fastCheck?: PointCheck): KeyFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new KeyFileError(`not valid JSON${jsonErrorLocation(text, e)}: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new KeyFileError('must be a JSON object mapping device names to keys');
  }
  const devices = new Map<string, KeyEntry[]>();
  const rejected: KeyProblem[] = [];
  for (const [device, value] of Object.entries(doc)) {
    const items = Array.isArray(value) ? value : [value];
    const entries: KeyEntry[] = [];
    items.forEach((item, i) => {
      const where = Array.isArray(value) ? `device "${device}" key #${i + 1}` : `device "${device}"`;
      try {
        entries.push(parseEntry(item, fastCheck));
      } catch (e) {
        if (!(e instanceof KeyRejected)) throw e;
        rejected.push({ device, reason: `${where}: key ${e.message}` });
      }
    });
    if (entries.length > 0) devices.set(device, entries);
  }
  return { devices, rejected };
}

function parseEntry(item: unknown, fastCheck?: PointCheck): KeyEntry {
  if (typeof item === 'string') return { key: parsePublicKey(item, fastCheck), revoked: false };
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new KeyRejected('entry must be a hex string or an object with "key"');
  }
  const o = item as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !ENTRY_FIELDS.has(k));
  if (unknown.length) throw new KeyRejected(`entry has unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')}`);
  if (o.revoked !== undefined && typeof o.revoked !== 'boolean') throw new KeyRejected('entry "revoked" must be true or false');
  if (o.label !== undefined && typeof o.label !== 'string') throw new KeyRejected('entry "label" must be a string');
  const notBefore = boundary(o.not_before, 'not_before');
  const notAfter = boundary(o.not_after, 'not_after');
  if (notBefore && notAfter && notBefore > notAfter) throw new KeyRejected('entry has not_before after not_after');
  return {
    key: parsePublicKey(o.key, fastCheck),
    revoked: o.revoked === true,
    ...(notBefore && { notBefore }),
    ...(notAfter && { notAfter }),
    ...(typeof o.label === 'string' && { label: o.label }),
  };
}

/** Accepts `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` (device-local, like the signed Time). */
function boundary(v: unknown, name: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    const full = v.length === 10 ? `${v}T00:00:00` : v;
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
