/**
 * InfluxQL literals (docs/design.md §6). Every name and value that reaches a query is written by one of these
 * functions, so that no device name, template variable or filter can change a query's structure.
 * Browser-safe: the Grafana data source and the audit tool share it.
 *
 * What InfluxDB's scanner accepts (influxql/scanner.go):
 * - `'…'` strings and `"…"` identifiers: the only escapes are `\\`, `\'`, `\"` and `\n`; a raw line
 *   break ends the statement with an error.
 * - `/…/` regexes: `\/` becomes `/`, every other backslash passes through to the regex engine (Go RE2),
 *   and a raw line break is an error. A backslash right before the closing `/` escapes it, so a
 *   regex literal must never end in a backslash.
 */

/** A value or pattern that cannot be written safely; the query is refused rather than altered. */
export class InfluxQLError extends Error {}

const escapeQuoted = (text: string, quote: '"' | "'"): string =>
  // The backslash goes first, or the escapes added after it would be doubled.
  text
    .replace(/\\/g, '\\\\')
    .replace(quote === '"' ? /"/g : /'/g, `\\${quote}`)
    .replace(/\n/g, '\\n');

/** An identifier (measurement, tag key, field key): `"name"`. */
export const quoteIdent = (name: string): string => `"${escapeQuoted(name, '"')}"`;

/**
 * A tag reference: `"name"::tag`. A bare `"name"` means the field when the measurement has a field of that
 * name, so one written row would otherwise redirect every filter, grouping and audit on the tag
 * (docs/grafana.md, "Name tags as tags"; InfluxDB 1.6 checked in test/services/grafana.shadowed-tags.test.ts).
 */
export const tagRef = (name: string): string => `${quoteIdent(name)}::tag`;

/** A field reference: `"name"::field`, never a tag of the same name. */
export const fieldRef = (name: string): string => `${quoteIdent(name)}::field`;

/** A string literal (tag value in `=`/`!=` comparisons): `'value'`. */
export const quoteString = (value: string): string => `'${escapeQuoted(value, "'")}'`;

const REGEX_PLAIN = /[A-Za-z0-9_-]/;
const hexEscape = (ch: string): string => `\\x{${ch.codePointAt(0)!.toString(16)}}`;

/**
 * The body of a regex that matches exactly `value`. Every character outside `[A-Za-z0-9_-]` becomes
 * `\x{…}`, so no regex metacharacter, `/`, backslash or line break survives as itself.
 */
export function escapeRegexValue(value: string): string {
  let out = '';
  for (const ch of value) out += REGEX_PLAIN.test(ch) ? ch : hexEscape(ch);
  return out;
}

/** A regex that matches nothing: an empty multi-value selection must not widen to "everything". */
const MATCH_NOTHING = '[^\\x{0}-\\x{10ffff}]';

/**
 * Grafana template-variable format function (pass it to `templateSrv.replace`): a single value
 * becomes its escaped regex, several values (multi-value, or "All" without a custom all value)
 * become an alternation `(?:a|b)`. The caller anchors the result and writes it with `regexLiteral`.
 * Grafana's own `singlequote`/`regex` formats are not used: `singlequote` leaves backslashes alone.
 */
export function formatRegexVariable(value: unknown): string {
  const values = (Array.isArray(value) ? value : [value]).map((v) => String(v ?? ''));
  if (values.length === 0) return MATCH_NOTHING;
  if (values.length === 1) return escapeRegexValue(values[0]!);
  return `(?:${values.map(escapeRegexValue).join('|')})`;
}

/**
 * A regex literal `/…/` whose regex is exactly `pattern` (a user's regex, or one built from
 * `formatRegexVariable`). Escaped slashes and backslashes are rewritten to `\/` and `\x{5c}`, a bare
 * `/` to `\/` and a line break to `\n`, so the literal always ends at our closing slash.
 */
export function regexLiteral(pattern: string): string {
  let out = '';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '\\') {
      const next = chars[++i];
      if (next === undefined) throw new InfluxQLError('regular expression ends with a lone backslash');
      if (next === '\n') throw new InfluxQLError('regular expression has a backslash before a line break');
      out += next === '\\' ? '\\x{5c}' : `\\${next}`;
    } else if (ch === '/') {
      out += '\\/';
    } else if (ch === '\n') {
      out += '\\n';
    } else {
      out += ch;
    }
  }
  return `/${out}/`;
}

/** A regex literal matching exactly the values `interpolated` stands for (anchored alternation). */
export const anchoredRegexLiteral = (interpolated: string): string => regexLiteral(`^(?:${interpolated})$`);

/** An integer literal; anything else (NaN, fractions, huge numbers) is refused. */
export function integerLiteral(n: number): string {
  if (!Number.isSafeInteger(n)) throw new InfluxQLError(`expected an integer, got ${n}`);
  return String(n);
}

/** `time >= …ms AND time <= …ms` for a range in epoch milliseconds. */
export const timeRangeCondition = (fromMs: number, toMs: number): string =>
  `time >= ${integerLiteral(Math.floor(fromMs))}ms AND time <= ${integerLiteral(Math.ceil(toMs))}ms`;

/** A GROUP BY time() duration in whole seconds, at least one. */
export const durationLiteral = (ms: number): string => `${integerLiteral(Math.max(1, Math.round(ms / 1000)))}s`;
