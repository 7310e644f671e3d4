/**
 * What a BC4P Tasmota plug signs, and how to rebuild it from what Telegraf delivers (docs/design.md §1–2).
 * Browser-safe: the Grafana panel re-checks with the same rules.
 */

/** `createSignature.ino` copies exactly this many characters of `Time`. */
export const SIGNED_TIME_LENGTH = 19;
/** Decimal counts tried when only a parsed float is left (EnergyRes is 0–5; one spare). */
export const MAX_DECIMALS = 6;
/** EnergyRes default on the firmware, tried first. */
export const DEFAULT_DECIMALS = 3;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The signed part of a Tasmota `Time`, or undefined when it is not a real calendar time.
 * Zone suffixes (`+01:00`) are allowed after the 19 signed characters and are not signed.
 * (Hand-parsed: it runs for every reading.)
 */
export function signedTime(time: string): string | undefined {
  if (time.length < SIGNED_TIME_LENGTH) return undefined;
  if (time[4] !== '-' || time[7] !== '-' || time[10] !== 'T' || time[13] !== ':' || time[16] !== ':') return undefined;
  const y = digits(time, 0, 4),
    mo = digits(time, 5, 2),
    d = digits(time, 8, 2),
    h = digits(time, 11, 2),
    mi = digits(time, 14, 2),
    s = digits(time, 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return undefined;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > DAYS_IN_MONTH[mo - 1]! || (mo === 2 && d === 29 && !leap)) return undefined;
  return time.slice(0, SIGNED_TIME_LENGTH);
}

/** The number written by `len` decimal digits at `at`, or -1. */
function digits(text: string, at: number, len: number): number {
  let n = 0;
  for (let i = at; i < at + len; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

export const signedMessage = (time19: string, totalText: string): string => `${time19},${totalText}`;

/** One value as the firmware prints it with `d` decimals (toFixed drops the sign of -0; the firmware keeps it). */
const printed = (v: number, d: number): string => (Object.is(v, -0) ? '-' : '') + v.toFixed(d);

/** Total as the firmware prints it with `decimals` digits: a number, or a `[a,b,c]` array with SetOption129. */
export function formatTotal(values: readonly number[], decimals: number, asArray: boolean): string {
  return asArray ? `[${values.map((v) => printed(v, decimals)).join(',')}]` : values.length ? printed(values[0]!, decimals) : '';
}

/** The Total text at `d` decimals when it reproduces every value exactly, else undefined (never a rounding). */
export function exactTotalText(values: readonly number[], d: number, asArray: boolean): string | undefined {
  let text = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v) || Math.abs(v) >= 1e21) return undefined;
    const part = printed(v, d);
    if (Number(part) !== v) return undefined;
    text += (i > 0 ? ',' : '') + part;
  }
  return values.length === 0 ? undefined : asArray ? `[${text}]` : text;
}

/** Whether printing every value with `d` decimals reproduces it exactly. */
const isExactAt = (values: readonly number[], d: number): boolean => exactTotalText(values, d, false) !== undefined;

/**
 * The likeliest exact decimal count and its Total text: the preferred count if exact, else the
 * smallest; undefined if none.
 */
export function likeliestTotal(
  values: readonly number[],
  preferred = DEFAULT_DECIMALS,
  asArray = false,
): { decimals: number; text: string } | undefined {
  if (preferred >= 0 && preferred <= MAX_DECIMALS) {
    const text = exactTotalText(values, preferred, asArray);
    if (text !== undefined) return { decimals: preferred, text };
  }
  for (let d = 0; d <= MAX_DECIMALS; d++) {
    const text = exactTotalText(values, d, asArray);
    if (text !== undefined) return { decimals: d, text };
  }
  return undefined;
}

/** The likeliest exact decimal count: the preferred one if exact, else the smallest; -1 if none. */
export const likeliestDecimals = (values: readonly number[], preferred?: number): number =>
  likeliestTotal(values, preferred)?.decimals ?? -1;

/**
 * Decimal counts that reproduce every value exactly (phases share one count).
 * A count that would round is never offered: accepting `10` for 10.4 would let anyone move a value
 * within the rounding step. `preferred` (the count that last verified for this device) goes first.
 */
export function exactDecimalCounts(values: readonly number[], preferred = DEFAULT_DECIMALS): number[] {
  const first = likeliestDecimals(values, preferred);
  if (first < 0) return [];
  const out = [first];
  for (let d = 0; d <= MAX_DECIMALS; d++) if (d !== first && isExactAt(values, d)) out.push(d);
  return out;
}
