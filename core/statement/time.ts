/**
 * Stored times (InfluxDB's `time`, UTC, to the nanosecond) as exact integers of nanoseconds, and back
 * to RFC 3339 as InfluxDB prints them (trailing zeros of the fraction dropped). A JSON number cannot
 * hold a nanosecond epoch exactly, so statements carry stored times as text. Browser-safe.
 */
import { signedTime } from '../firmware';

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Nanoseconds since the epoch, or undefined when `text` is not an RFC 3339 time with a zone. */
export function parseStoredTime(text: string): bigint | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  // signedTime checks the calendar (no Feb 30, no 24:00), which Date.parse would roll over.
  if (signedTime(m[1]!) === undefined) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** RFC 3339 in UTC with as many fraction digits as needed, the way InfluxDB writes `time`. */
export function formatStoredTime(ns: bigint): string {
  const ms = ns / 1_000_000n - (ns % 1_000_000n < 0n ? 1n : 0n);
  const sub = ns - ms * 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const fraction = (iso.slice(20, 23) + sub.toString().padStart(6, '0')).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

/** Seconds from `a` to `b` (stored times), to the millisecond. */
export function secondsBetween(a: string, b: string): number {
  const x = parseStoredTime(a),
    y = parseStoredTime(b);
  if (x === undefined || y === undefined) return Number.NaN;
  return Number((y - x) / 1_000_000n) / 1000;
}
