/**
 * Go's number syntax as the line-protocol reference decoder applies it to field values: strconv.ParseInt
 * and ParseUint (base 10, 64 bits) for `i`/`u` values and strconv.ParseFloat(s, 64) for floats,
 * accepting exactly what Go accepts and rounding exactly as Go rounds. Allocates nothing.
 */

const MINUS = 0x2d;
export const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

const INT64_MAX = '9223372036854775807',
  INT64_MIN = '9223372036854775808',
  UINT64_MAX = '18446744073709551615';

/** Go's strconv.ParseInt / ParseUint in base 10 with 64 bits: an optional '-' (signed only), digits, in range. */
export function intInRange(buf: Uint8Array, s: number, e: number, signed: boolean): boolean {
  const neg = signed && s < e && buf[s] === MINUS;
  if (neg) s++;
  if (s === e) return false;
  for (let i = s; i < e; i++) if (!isDigit(buf[i]!)) return false;
  while (s < e - 1 && buf[s] === 0x30) s++;
  const limit = !signed ? UINT64_MAX : neg ? INT64_MIN : INT64_MAX;
  if (e - s !== limit.length) return e - s < limit.length;
  for (let i = 0; i < limit.length; i++) {
    const d = buf[s + i]! - limit.charCodeAt(i);
    if (d !== 0) return d < 0;
  }
  return true;
}

/** What the last scanFloat found (exp: the written exponent); module state so that checking a float allocates nothing. */
const num = { hex: false, neg: false, nd: 0, dp: 0, mantissa: 0, exp: 0 };

/**
 * Go float syntax: [sign] (digits ['.' digits] | '0x' hexdigits ['.' hexdigits]) [e|p exponent], with
 * '_' between digits; a hex mantissa needs a 'p' exponent. Fills `num`; false on a syntax error.
 * For decimals, the value is 0.d1d2…d(nd) × 10^dp and `mantissa` holds the first digits exactly.
 */
function scanFloat(buf: Uint8Array, s: number, e: number): boolean {
  if (s >= e) return false;
  let i = s;
  num.neg = buf[i] === MINUS;
  if (num.neg || buf[i] === 0x2b) i++;
  num.hex = i + 2 < e && buf[i] === 0x30 && (buf[i + 1]! | 0x20) === 0x78;
  if (num.hex) i += 2;
  let underscores = false,
    sawDot = false,
    sawDigits = false,
    nd = 0,
    dp = 0,
    mantissa = 0;
  for (; i < e; i++) {
    const c = buf[i]!;
    if (c === 0x5f) underscores = true;
    else if (c === 0x2e) {
      if (sawDot) break;
      sawDot = true;
      dp = nd;
    } else if (isDigit(c) || (num.hex && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)) {
      sawDigits = true;
      if (c === 0x30 && nd === 0)
        dp--; // leading zeros do not count
      else {
        if (nd < 15) mantissa = mantissa * 10 + (c - 0x30);
        nd++;
      }
    } else break;
  }
  if (!sawDigits) return false;
  if (!sawDot) dp = nd;
  let exp = 0;
  if (i < e && (buf[i]! | 0x20) === (num.hex ? 0x70 : 0x65)) {
    i++;
    if (i >= e) return false;
    let esign = 1;
    if (buf[i] === 0x2b) i++;
    else if (buf[i] === MINUS) {
      i++;
      esign = -1;
    }
    if (i >= e || !isDigit(buf[i]!)) return false;
    for (; i < e && (isDigit(buf[i]!) || buf[i] === 0x5f); i++) {
      if (buf[i] === 0x5f) underscores = true;
      else if (exp < 1e5) exp = exp * 10 + buf[i]! - 0x30;
    }
    exp *= esign;
  } else if (num.hex) return false;
  if (i !== e || (underscores && !underscoreOk(buf, s, e))) return false;
  num.nd = nd;
  num.dp = dp + exp;
  num.exp = exp;
  num.mantissa = mantissa;
  return true;
}

/** Go's rule: '_' only between digits, or between a base prefix and a digit. */
function underscoreOk(buf: Uint8Array, s: number, e: number): boolean {
  let saw = 0x5e; // '^' start, '0' digit or prefix, '_' underscore, '!' other
  let i = s;
  if (buf[i] === MINUS || buf[i] === 0x2b) i++;
  let hex = false;
  if (e - i >= 2 && buf[i] === 0x30) {
    const b = buf[i + 1]! | 0x20;
    if (b === 0x62 || b === 0x6f || b === 0x78) {
      i += 2;
      saw = 0x30;
      hex = b === 0x78;
    }
  }
  for (; i < e; i++) {
    const c = buf[i]!;
    if (isDigit(c) || (hex && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)) saw = 0x30;
    else if (c === 0x5f) {
      if (saw !== 0x30) return false;
      saw = 0x5f;
    } else {
      if (saw === 0x5f) return false;
      saw = 0x21;
    }
  }
  return saw !== 0x5f;
}

/** Valid float syntax whose value is finite (Go reports 1e400 as out of range). */
export function floatOk(buf: Uint8Array, s: number, e: number): boolean {
  // Fast path for what Telegraf writes, [-]digits[.digits]: under 309 digits it cannot overflow.
  let i = s + (buf[s] === MINUS ? 1 : 0),
    digits = 0,
    dot = false;
  for (; i < e; i++) {
    const c = buf[i]!;
    if (isDigit(c)) digits++;
    else if (c === 0x2e && !dot) dot = true;
    else break;
  }
  if (i === e && digits > 0 && digits < 309) return true;
  if (!scanFloat(buf, s, e)) return false;
  // A decimal below 10^308 is always finite; only the rare large or hex ones are converted.
  if (!num.hex && (num.nd === 0 || num.dp <= 308)) return true;
  return Number.isFinite(parseFloatSpan(buf, s, e));
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The float64 value of a FIELD_FLOAT span, rounded exactly as Go's strconv.ParseFloat does; NaN when
 * the span is not float syntax, ±Infinity when out of range. Short decimals take an exact fast path.
 */
export function parseFloatSpan(buf: Uint8Array, start: number, end: number): number {
  if (!scanFloat(buf, start, end)) return NaN;
  if (num.hex) return hexFloat(buf, start, end);
  let v: number;
  const k = num.dp - num.nd;
  if (num.nd === 0) v = 0;
  else if (num.nd <= 15 && k >= -22 && k <= 22) {
    // Both operands are exact doubles, so one IEEE operation rounds correctly (Clinger's fast path).
    v = k < 0 ? num.mantissa / POW10[-k]! : num.mantissa * POW10[k]!;
  } else {
    let text = '';
    for (let i = start; i < end; i++) if (buf[i] !== 0x5f) text += String.fromCharCode(buf[i]!);
    return Number(text); // decimal syntax already checked; V8 rounds correctly
  }
  return num.neg ? -v : v;
}

/** Hex float: exact integer mantissa × 2^exp, rounded half-to-even to float64 (with subnormals). */
function hexFloat(buf: Uint8Array, start: number, end: number): number {
  let digits = '',
    afterDot = 0,
    dot = false,
    i = start + (num.neg || buf[start] === 0x2b ? 3 : 2);
  for (; i < end; i++) {
    const c = buf[i]!;
    if ((c | 0x20) === 0x70) break;
    if (c === 0x2e) dot = true;
    else if (c !== 0x5f) {
      digits += String.fromCharCode(c);
      if (dot) afterDot++;
    }
  }
  digits = digits.replace(/^0+/, '');
  const sign = num.neg ? -1 : 1;
  if (digits === '') return sign * 0;
  const m = BigInt('0x' + digits);
  const exp = num.exp - 4 * afterDot; // value = m × 2^exp
  const bits = 4 * (digits.length - 1) + (32 - Math.clz32(parseInt(digits[0]!, 16)));
  const top = bits - 1 + exp; // exponent of the leading bit
  if (top > 1023) return sign * Infinity;
  const lsb = Math.max(top - 52, -1074);
  const shift = lsb - exp;
  let q: bigint;
  if (shift <= 0) q = m << BigInt(-shift);
  else {
    q = m >> BigInt(shift);
    const rest = m - (q << BigInt(shift));
    const half = 1n << BigInt(shift - 1);
    if (rest > half || (rest === half && (q & 1n) === 1n)) q++;
  }
  return sign * Number(q) * 2 ** lsb;
}
