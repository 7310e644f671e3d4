/**
 * One key entry of the key file: admitting it (its fields and validity window, its key through the
 * caller's `admit`), and which of a device's entries may vouch for a reading signed at a given time.
 */
import { signedTime } from './firmware';
import { KeyRejected, type PublicKey } from './pubkey';

export interface KeyEntry {
  readonly key: PublicKey;
  /** Inclusive bounds, compared with the signed (device-local) Time's 19 characters. */
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly revoked: boolean;
  readonly label?: string;
}

const ENTRY_FIELDS = new Set(['key', 'not_before', 'not_after', 'revoked', 'label']);

export function parseEntry(item: unknown, admit: (hex: unknown) => PublicKey): KeyEntry {
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
