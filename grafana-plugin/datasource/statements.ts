/**
 * InfluxQL for each query type. Pure: every identifier and literal is written by core/influxql, and the
 * statements run unchanged on InfluxDB 1.6+ and on the v1 `/query` API of InfluxDB 2.x and 3.x.
 * Every tag is named `"tag"::tag` (core/influxql `tagRef`): a bare name means the field of that name once any
 * row carries one, and a json-mode payload creates fields `device` or `topic` as easily as a Total.
 */
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import {
  InfluxQLError,
  anchoredRegexLiteral,
  durationLiteral,
  escapeRegexValue,
  fieldRef,
  formatRegexVariable,
  integerLiteral,
  quoteIdent,
  quoteString,
  regexLiteral,
  tagRef,
  timeRangeCondition,
} from '../../core/influxql';
import { SIGNED_MESSAGE_FIELD, STATUS_TAG, VERIFIED_TAG } from '../../core/status';

const { deviceTag: DEVICE_TAG, topicTag: TOPIC_TAG, time: TIME_FIELD, signature: SIGNATURE_FIELD } = DEFAULT_FIELD_NAMES;

/** What one query reads: already interpolated, not yet quoted. */
export interface Scope {
  measurement: string;
  totalField: string;
  fromMs: number;
  toMs: number;
  /** Device regex with template variables formatted by `formatRegexVariable`; empty means all. */
  device?: string;
  filters: readonly AdHocFilter[];
}

/** Grafana's AdHocVariableFilter, narrowed to what is read here. */
export interface AdHocFilter {
  key: string;
  operator: string;
  value: string;
  values?: string[];
}

const id = quoteIdent;

/** Ad-hoc filter keys come from `SHOW TAG KEYS` (getTagKeys), so they are tags. */
export function adHocCondition(f: AdHocFilter): string {
  const key = tagRef(f.key);
  switch (f.operator) {
    case '=':
    case '!=':
      return `${key} ${f.operator} ${quoteString(f.value)}`;
    case '=~':
    case '!~':
      return `${key} ${f.operator} ${regexLiteral(f.value)}`;
    case '=|':
    case '!=|': // Grafana's multi-value operators: one of / none of.
      return `${key} ${f.operator === '=|' ? '=~' : '!~'} ${anchoredRegexLiteral(formatRegexVariable(f.values ?? [f.value]))}`;
    default:
      throw new InfluxQLError(`ad-hoc filter operator "${f.operator}" is not supported (use =, !=, =~, !~)`);
  }
}

const verifiedIs = (v: boolean): string => `${tagRef(VERIFIED_TAG)} = ${quoteString(String(v))}`;
/** Every row not tagged `verified=true`: failing, and untagged (which counts skip as predating meterproof). */
const notVerified = `${tagRef(VERIFIED_TAG)} != ${quoteString('true')}`;

const deviceMatches = (deviceRegex: string): string => `${tagRef(DEVICE_TAG)} =~ ${anchoredRegexLiteral(deviceRegex)}`;

/** The scope's conditions, over a time condition of the caller's. */
function whereTime(time: string, s: Scope, ...extra: string[]): string {
  const parts = [time, ...extra];
  if (s.device) parts.push(deviceMatches(s.device));
  for (const f of s.filters) parts.push(adHocCondition(f));
  return parts.join(' AND ');
}

const where = (s: Scope, ...extra: string[]): string => whereTime(timeRangeCondition(s.fromMs, s.toMs), s, ...extra);

/** The Total field and its per-phase variants (`ENERGY_Total_0..n` on three-phase meters). */
const totalsSelector = (totalField: string): string => regexLiteral(`^${escapeRegexValue(totalField)}(?:_[0-9]+)?$`);

const from = (s: Scope): string => `FROM ${id(s.measurement)}`;
/**
 * Per device *and verdict*: grouped by the device alone, InfluxDB 1.6 answers a tie at the latest time
 * with the verified row in every write order, and the failing one would go unseen.
 */
const byVerdict = `GROUP BY ${tagRef(DEVICE_TAG)}, ${tagRef(VERIFIED_TAG)}, ${tagRef(STATUS_TAG)}`;
/** `count_<field>`: frames.ts reads every `count_` column (a lone `count(x)` would be named `count`). */
const countOf = (field: string): string => `count(${id(field)}) AS ${id(`count_${field}`)}`;
const proofFields = `${id(SIGNED_MESSAGE_FIELD)}, ${id(SIGNATURE_FIELD)}`;

/**
 * Ranges longer than this read each field with its own selector: InfluxDB answers `last(x)` from the
 * last block of each series, but reads every point for the other fields of a selector query. With many
 * points per series (a day at 10 s, or more) that costs more than a request per field.
 */
export const LONG_RANGE_MS = 6 * 3_600_000;
/** Phases read in long ranges, each by its own selector (Tasmota meters have up to three). */
const LONG_RANGE_PHASES = 3;

/**
 * Trust status, the full statements (single-statement requests, answered by InfluxDB from selectors and
 * counted fields, never COUNT(*) or ORDER BY … LIMIT; docs/grafana.md, "Performance"):
 * 0. each device's last row per verdict (by `Time`, which every Tasmota reading carries), with the
 *    Total fields and the proof (`signed_message`, `Signature`) of that same row: `last()` is a
 *    selector, so the other fields come from the point it selects;
 * 1. each device's last row per verdict that has a single Total, so that a failing row without `Time`
 *    still makes the device fail (short ranges: only failing series are read);
 * 2. verified rows per device, counted by their single Total (a float reads cheaper than a string,
 *    and every verified reading carries its Total(s); multi-phase meters: `phaseStatements`);
 * 3. the other rows per device and verdict, counted by `Time` and by each Total (frames.ts keeps the
 *    largest count of a series); a `verify_status=ok` row without `verified=true` is not counted as ok;
 * Over ranges longer than LONG_RANGE_MS, statement 0 selects `Time` alone, statement 1 every verdict,
 * and 4… select `signed_message`, `Signature` and the phases of verified rows one by one; frames.ts
 * joins a verified row's fields by their time, and a field missing at that time leaves it unproven.
 * Statements 0 and 1 group by device and verdict, so a verified and a failing row at a device's latest
 * time both reach frames.ts, which takes the worst; the counts group the same way.
 * The data source runs the counts first, then reads the last rows from a narrow window (trust.ts,
 * `trustWindowStatement`), and runs the row statements only for the devices that window misses.
 */
export function trustStatements(s: Scope, layout: 'short' | 'long' = s.toMs - s.fromMs > LONG_RANGE_MS ? 'long' : 'short'): string[] {
  const totals = totalsSelector(s.totalField);
  const failing = where(s, verifiedIs(false));
  const verified = where(s, verifiedIs(true));
  const counts = [
    `SELECT ${countOf(s.totalField)} ${from(s)} WHERE ${verified} ${byVerdict}`,
    `SELECT ${countOf(TIME_FIELD)}, count(${totals}) ${from(s)} WHERE ${where(s, notVerified)} ${byVerdict}`,
  ];
  const lastOf = (field: string, condition: string) =>
    `SELECT last(${id(field)}) AS ${id(field)} ${from(s)} WHERE ${condition} ${byVerdict}`;
  if (layout === 'short') {
    return [
      `SELECT last(${id(TIME_FIELD)}) AS ${id(TIME_FIELD)}, ${totals}, ${proofFields} ${from(s)} WHERE ${where(s)} ${byVerdict}`,
      lastOf(s.totalField, failing),
      ...counts,
    ];
  }
  return [
    lastOf(TIME_FIELD, where(s)),
    lastOf(s.totalField, where(s)),
    ...counts,
    lastOf(SIGNED_MESSAGE_FIELD, verified),
    lastOf(SIGNATURE_FIELD, verified),
    ...Array.from({ length: LONG_RANGE_PHASES }, (_, p) => lastOf(`${s.totalField}_${p}`, verified)),
  ];
}

/** Where the counts are among `trustStatements` (the others answer with rows). */
export const TRUST_COUNT_STATEMENTS: readonly number[] = [2, 3];

/**
 * Multi-phase meters, whose verified rows have no single Total: which devices have verified rows with a
 * first phase (and the last of them), then those devices' verified rows counted by it. Counting the
 * first phase across every device costs InfluxDB 1.6 as much as counting the Totals; its `last()`, a
 * fraction of that. trust.ts asks the count only for the devices the first statement names.
 */
export const phaseStatements = (s: Scope): { last: string; count: string } => {
  const phase = `${s.totalField}_0`;
  const verified = where(s, verifiedIs(true));
  return {
    last: `SELECT last(${id(phase)}) AS ${id(phase)} ${from(s)} WHERE ${verified} ${byVerdict}`,
    count: `SELECT ${countOf(phase)} ${from(s)} WHERE ${verified} ${byVerdict}`,
  };
};

export const HOUR_MS = 3_600_000;

/**
 * Verified rows counted from hourly counts (`jsonData.hourlyCounts`, docs/grafana.md "Performance"): a
 * measurement a continuous query fills with `count_<Total>` and `count_<Total>_0` per hour, device and
 * verdict. Whole hours from `startMs` (the range's first) up to the last one written come from it; the
 * partial hour at the start and everything after the last hour written, from raw rows. Every interval is
 * `>= … AND < …` (the last `<=` the range's end), so no row is counted twice.
 * - `last`: the latest hour written, one statement per counted field (a three-phase fleet has no Total);
 * - `counts(endMs)`: the hourly sums before `endMs` (an hour boundary), and the raw counts on either side.
 */
export function hourlyCountStatements(
  s: Scope,
  hourly: string,
): { startMs: number; endMs: number; last: string[]; counts: (endMs: number) => string[] } {
  const startMs = Math.ceil(s.fromMs / HOUR_MS) * HOUR_MS;
  const endMs = Math.max(startMs, Math.floor(s.toMs / HOUR_MS) * HOUR_MS);
  const fields = [s.totalField, `${s.totalField}_0`];
  const between = (from: number, before: number) => `time >= ${integerLiteral(Math.floor(from))}ms AND time < ${integerLiteral(before)}ms`;
  const verified = (time: string) => whereTime(time, s, verifiedIs(true));
  const raw = (time: string) => `SELECT ${fields.map(countOf).join(', ')} ${from(s)} WHERE ${verified(time)} ${byVerdict}`;
  const counted = fields.map((f) => id(`count_${f}`));
  return {
    startMs,
    endMs,
    last: counted.map((c) => `SELECT last(${c}) FROM ${id(hourly)} WHERE ${verified(between(startMs, endMs))}`),
    counts: (before) => [
      `SELECT ${counted.map((c) => `sum(${c}) AS ${c}`).join(', ')} FROM ${id(hourly)} WHERE ${verified(between(startMs, before))} ${byVerdict}`,
      raw(between(s.fromMs, startMs)),
      raw(`time >= ${integerLiteral(before)}ms AND time <= ${integerLiteral(Math.ceil(s.toMs))}ms`),
    ],
  };
}

/**
 * Every row from `sinceMs` to the end of the range, ungrouped, with its device and verdict tags as
 * columns: each device's latest rows (ties included) and, when verified, their proof, for every device
 * with a row in that window. Ungrouped raw rows cost InfluxDB far less than a selector per series.
 */
export const trustWindowStatement = (s: Scope, sinceMs: number): string =>
  `SELECT ${tagRef(DEVICE_TAG)}, ${tagRef(VERIFIED_TAG)}, ${tagRef(STATUS_TAG)}, ${id(TIME_FIELD)}, ${totalsSelector(s.totalField)}, ` +
  `${proofFields} ${from(s)} WHERE ${where({ ...s, fromMs: Math.max(s.fromMs, sinceMs) })}`;

/** Verified totals per device; `last` is a selector, so every point is a value that was signed. */
export const signedTotalsStatement = (s: Scope, intervalMs: number): string =>
  `SELECT last(${totalsSelector(s.totalField)}) ${from(s)} WHERE ${where(s, verifiedIs(true))} ` +
  `GROUP BY time(${durationLiteral(intervalMs)}), ${tagRef(DEVICE_TAG)} fill(none)`;

/** The most recent readings that did not verify, newest first. */
export const eventsStatement = (s: Scope, limit: number): string =>
  `SELECT ${tagRef(DEVICE_TAG)}, ${tagRef(STATUS_TAG)}, ${tagRef(TOPIC_TAG)}, ${id(TIME_FIELD)}, ${totalsSelector(s.totalField)}, ${id(SIGNATURE_FIELD)} ` +
  `${from(s)} WHERE ${where(s, verifiedIs(false))} ORDER BY time DESC LIMIT ${integerLiteral(limit)}`;

/**
 * Values of a tag (devices for a template variable; any tag for ad-hoc filters). `WITH KEY` names a tag
 * by definition, but the WHERE does not: InfluxDB 1.6 ignores a bare `"device" =~` there once a field
 * `device` exists, and offers every device.
 */
export function tagValuesStatement(measurement: string, key: string, deviceRegex?: string): string {
  const filter = deviceRegex ? ` WHERE ${deviceMatches(deviceRegex)}` : '';
  return `SHOW TAG VALUES FROM ${id(measurement)} WITH KEY = ${id(key)}${filter}`;
}

export const tagKeysStatement = (measurement: string): string => `SHOW TAG KEYS FROM ${id(measurement)}`;

/**
 * Verified consumption (consumption.ts), four statements answered in one request, each cheap: per device
 * 0. the last accepted reading at or before `from` (the start anchor);
 * 1. the first accepted reading after `from` (the start anchor when 0 has none; else where the readings
 *    inside the range begin);
 * 2. the last accepted reading at or before `to` (the end anchor);
 * 3. the smallest step of the stored Totals from one accepted reading to the next inside the range,
 *    per phase: below zero, a reading went down (a hard reset), and no single key proves the range.
 * "Accepted" is what `meterproof statement create` anchors on: `verified=true` and `verify_status=ok`;
 * the browser then re-checks each anchor's signature before its figure counts as proven.
 */
export function consumptionStatements(s: Scope): string[] {
  const totals = totalsSelector(s.totalField);
  const at = (ms: number) => `${integerLiteral(Math.round(ms))}ms`;
  const accepted = (...time: string[]) => {
    const parts = [...time, verifiedIs(true), `${tagRef(STATUS_TAG)} = ${quoteString('ok')}`];
    if (s.device) parts.push(deviceMatches(s.device));
    for (const f of s.filters) parts.push(adHocCondition(f));
    return parts.join(' AND ');
  };
  const anchor = (time: string[], order: 'ASC' | 'DESC') =>
    `SELECT ${totals}, ${fieldRef(SIGNED_MESSAGE_FIELD)}, ${fieldRef(SIGNATURE_FIELD)} ${from(s)} WHERE ${accepted(...time)} ` +
    `GROUP BY ${tagRef(DEVICE_TAG)} ORDER BY time ${order} LIMIT 1`;
  const inside = [`time > ${at(s.fromMs)}`, `time <= ${at(s.toMs)}`];
  return [
    anchor([`time <= ${at(s.fromMs)}`], 'DESC'),
    anchor(inside, 'ASC'),
    anchor([`time <= ${at(s.toMs)}`], 'DESC'),
    `SELECT min(*) FROM (SELECT difference(${totals}) ${from(s)} WHERE ${accepted(...inside)} GROUP BY ${tagRef(DEVICE_TAG)}) ` +
      `GROUP BY ${tagRef(DEVICE_TAG)}`,
  ];
}

/**
 * Annotations, key changes: each device's first, least, greatest and last verified Total per phase in the
 * range. A Total only goes down in verified readings when a new key restarts the counter (a hard reset;
 * docs/design.md §4, "Fresh keys"), so only devices whose least is not their first or whose greatest is not
 * their last need their totals over time (signedTotalsStatement) to find when.
 */
export function totalsRangeStatement(s: Scope): string {
  const totals = totalsSelector(s.totalField);
  return (
    `SELECT first(${totals}), min(${totals}), max(${totals}), last(${totals}) ${from(s)} ` +
    `WHERE ${where(s, verifiedIs(true))} GROUP BY ${tagRef(DEVICE_TAG)}`
  );
}
