/**
 * Exact decimal arithmetic on the Total texts a plug signed (docs/statements.md). A value is a scaled
 * integer: `units / 10^scale`, so `1.500` is 1500n at scale 3 and keeps its three decimals. Nothing
 * here goes through a float: 1.1 + 2.2 is 3.3, and a difference of two signed Totals is exactly the
 * difference of what was signed. Browser-safe.
 */

export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

/** The firmware prints `-?\d+(\.\d+)?` (docs/design.md §1): no exponent, no `+`, no blanks. */
const DECIMAL_TEXT = /^-?\d+(?:\.\d+)?$/;

export function parseDecimal(text: string): Decimal | undefined {
  if (!DECIMAL_TEXT.test(text)) return undefined;
  const dot = text.indexOf('.');
  if (dot < 0) return { units: BigInt(text), scale: 0 };
  const negative = text.startsWith('-');
  const units = BigInt(text.slice(negative ? 1 : 0, dot) + text.slice(dot + 1));
  return { units: negative ? -units : units, scale: text.length - dot - 1 };
}

const rescale = (d: Decimal, scale: number): bigint => d.units * 10n ** BigInt(scale - d.scale);

export function addDecimal(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale) + rescale(b, scale), scale };
}

export function subtractDecimal(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale) - rescale(b, scale), scale };
}

/** Negative, zero or positive as a is below, equal to or above b (whatever their scales). */
export function compareDecimal(a: Decimal, b: Decimal): number {
  const scale = Math.max(a.scale, b.scale);
  const x = rescale(a, scale),
    y = rescale(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

export const ZERO: Decimal = { units: 0n, scale: 0 };

export const sumDecimals = (values: readonly Decimal[]): Decimal => values.reduce(addDecimal, ZERO);

/** The decimal's text with exactly `scale` decimals: 1500n at scale 3 is `1.500`. */
export function formatDecimal(d: Decimal): string {
  const negative = d.units < 0n;
  const digits = (negative ? -d.units : d.units).toString().padStart(d.scale + 1, '0');
  const text = d.scale === 0 ? digits : `${digits.slice(0, -d.scale)}.${digits.slice(-d.scale)}`;
  return negative ? `-${text}` : text;
}

/** A signed Total: one value, or the phases of `[a,b,c]` (SetOption129), as printed. */
export interface SignedTotal {
  readonly values: readonly Decimal[];
  readonly asArray: boolean;
}

/** The Total text as the firmware prints it, or undefined for anything else (blanks, exponents, `[]`). */
export function parseTotalText(text: string): SignedTotal | undefined {
  const asArray = text.startsWith('[') && text.endsWith(']');
  const parts = asArray ? text.slice(1, -1).split(',') : [text];
  const values: Decimal[] = [];
  for (const part of parts) {
    const d = parseDecimal(part);
    if (!d) return undefined;
    values.push(d);
  }
  return { values, asArray };
}

/** The energy a meter counts: the one value, or the sum of the phases. */
export const totalOf = (t: SignedTotal): Decimal => sumDecimals(t.values);

/** Whether two Totals list the same phases, so that they can be compared phase by phase. */
export const samePhases = (a: SignedTotal, b: SignedTotal): boolean => a.asArray === b.asArray && a.values.length === b.values.length;

/**
 * Whether `later` is below `earlier` as the processor judges a rollback (docs/design.md §4): phase by
 * phase when both list the same phases, else by their sums.
 */
export function goesDown(earlier: SignedTotal, later: SignedTotal): boolean {
  if (!samePhases(earlier, later)) return compareDecimal(totalOf(later), totalOf(earlier)) < 0;
  return later.values.some((v, i) => compareDecimal(v, earlier.values[i]!) < 0);
}

/** The energy from `start` to `end`: the whole (sum of phases), and per phase when both list the same phases. */
export function consumptionBetween(start: SignedTotal, end: SignedTotal): { total: Decimal; phases: Decimal[] | undefined } {
  return {
    total: subtractDecimal(totalOf(end), totalOf(start)),
    phases: samePhases(start, end) && start.asArray ? end.values.map((v, i) => subtractDecimal(v, start.values[i]!)) : undefined,
  };
}

/** The number a JSON reader gets for an exact decimal (the statement carries the exact text beside it). */
export const decimalNumber = (d: Decimal): number => Number(formatDecimal(d));
