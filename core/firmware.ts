/**
 * What a BC4P Tasmota plug signs, and how to rebuild it from what Telegraf delivers (DESIGN §2–3).
 * Browser-safe: the Grafana panel re-checks with the same rules.
 */

/** `createSignature.ino` copies exactly this many characters of `Time`. */
export const SIGNED_TIME_LENGTH = 19;
/** Decimal counts tried when only a parsed float is left (EnergyRes is 0–5; one spare). */
export const MAX_DECIMALS = 6;
/** EnergyRes default on the firmware, tried first. */
export const DEFAULT_DECIMALS = 3;

const TIME_PREFIX = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/;

/**
 * The signed part of a Tasmota `Time`, or undefined when it is not a real calendar time.
 * Zone suffixes (`+01:00`) are allowed after the 19 signed characters and are not signed.
 */
export function signedTime(time: string): string | undefined {
  const m = TIME_PREFIX.exec(time);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  if (d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return undefined;
  return time.slice(0, SIGNED_TIME_LENGTH);
}

export const signedMessage = (time19: string, totalText: string): string => `${time19},${totalText}`;

/** Total as the firmware prints it with `decimals` digits: a number, or a `[a,b,c]` array with SetOption129. */
export function formatTotal(values: readonly number[], decimals: number, asArray: boolean): string {
  const parts = values.map((v) => (Object.is(v, -0) ? '-' : '') + v.toFixed(decimals));
  return asArray ? `[${parts.join(',')}]` : (parts[0] ?? '');
}

/**
 * Decimal counts that reproduce every value exactly (phases share one count).
 * A count that would round is never offered: accepting `10` for 10.4 would let anyone move a value
 * within the rounding step. `preferred` (the count that last verified for this device) goes first.
 */
export function exactDecimalCounts(values: readonly number[], preferred = DEFAULT_DECIMALS): number[] {
  if (values.length === 0 || !values.every((v) => Number.isFinite(v) && Math.abs(v) < 1e21)) return [];
  const out: number[] = [];
  const exact = (d: number) => values.every((v) => Number(v.toFixed(d)) === v);
  if (preferred >= 0 && preferred <= MAX_DECIMALS && exact(preferred)) out.push(preferred);
  for (let d = 0; d <= MAX_DECIMALS; d++) if (d !== preferred && exact(d)) out.push(d);
  return out;
}
