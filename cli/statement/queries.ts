/**
 * The InfluxQL of a statement, written with core/influxql.ts. Every tag is named `"tag"::tag` and every
 * field `"field"::field`: a bare name means the field once a field of that name exists, so one row
 * written with a field `verified` or `device` could otherwise decide which rows a statement rests on.
 * Columns are aliased by position (`c1`, `c2`, …) so that no two share a name.
 */
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { escapeRegexValue, integerLiteral, quoteIdent, quoteString, regexLiteral } from '../../core/influxql';
import { SIGNED_MESSAGE_FIELD, STATUS_TAG, VERIFIED_TAG } from '../../core/status';
import { formatStoredTime } from '../../core/statement/time';
import type { Select } from '../../audit/influx-pager';

const names = DEFAULT_FIELD_NAMES;
const tag = (name: string): string => `${quoteIdent(name)}::tag`;
const field = (name: string): string => `${quoteIdent(name)}::field`;

/** The tags a row is judged by, read as RowLayout (audit/recheck.ts) expects them. */
const ROW_TAGS = [names.deviceTag, names.topicTag, VERIFIED_TAG, STATUS_TAG];
const PHASE = new RegExp(`^${names.total}_(0|[1-9]\\d{0,2})$`);

/** `SHOW FIELD KEYS`: the fields a row SELECT may name (phases differ from one installation to the next). */
export const fieldKeysStatement = (measurement: string): string => `SHOW FIELD KEYS FROM ${quoteIdent(measurement)}`;

/** The fields the re-check reads, those of them the measurement has. */
export function rowFields(fieldKeys: readonly string[]): string[] {
  const wanted = [SIGNED_MESSAGE_FIELD, names.signature, names.time, names.payload, names.total];
  const phases = fieldKeys
    .filter((k) => PHASE.test(k))
    .sort((a, b) => Number(a.slice(names.total.length + 1)) - Number(b.slice(names.total.length + 1)));
  return [...wanted.filter((k) => fieldKeys.includes(k)), ...phases];
}

/**
 * The device's rows, identified as the processor does (core reading rules, docs/design.md §2): the
 * `device` tag, or, on a row without one, the second segment of the `topic` tag (`tele/<device>/SENSOR`).
 */
export function deviceCondition(device: string): string {
  const topic = regexLiteral(`^[^/]*/${escapeRegexValue(device)}(?:/|$)`);
  return `(${tag(names.deviceTag)} = ${quoteString(device)} OR (${tag(names.deviceTag)} = ${quoteString('')} AND ${tag(names.topicTag)} =~ ${topic}))`;
}

/** Rows the processor accepted: `verified=true` with `verify_status=ok` (never a replay, rollback or rejection). */
export const acceptedCondition = (): string =>
  `${tag(VERIFIED_TAG)} = ${quoteString('true')} AND ${tag(STATUS_TAG)} = ${quoteString('ok')}`;

export type Bound = { readonly op: '<=' | '<' | '>=' | '>' | '='; readonly ns: bigint };
const timeCondition = (b: Bound): string => `time ${b.op} ${quoteString(formatStoredTime(b.ns))}`;

function where(device: string, bounds: readonly Bound[]): string {
  return [deviceCondition(device), acceptedCondition(), ...bounds.map(timeCondition)].join(' AND ');
}

/** Whole rows (tags and the re-check's fields) of the device's accepted readings within `bounds`. */
export function rowSelect(
  measurement: string,
  fields: readonly string[],
  device: string,
  bounds: readonly Bound[],
  order: 'ASC' | 'DESC',
  page?: { readonly limit: number; readonly offset: number },
): Select {
  const refs = [...ROW_TAGS.map(tag), ...fields.map(field)];
  const paged = page ? ` LIMIT ${integerLiteral(page.limit)}${page.offset > 0 ? ` OFFSET ${integerLiteral(page.offset)}` : ''}` : '';
  return {
    statement:
      `SELECT ${refs.map((r, i) => `${r} AS ${quoteIdent(`c${i + 1}`)}`).join(', ')} FROM ${quoteIdent(measurement)} ` +
      `WHERE ${where(device, bounds)}${order === 'DESC' ? ' ORDER BY time DESC' : ''}${paged}`,
    columns: ['time', ...ROW_TAGS, ...fields],
  };
}

/** Only `signed_message` of the device's accepted readings, in stored order: the order check's stream. */
export function messageSelect(measurement: string, device: string, bounds: readonly Bound[]): Select {
  return {
    statement: `SELECT ${field(SIGNED_MESSAGE_FIELD)} AS ${quoteIdent('c1')} FROM ${quoteIdent(measurement)} WHERE ${where(device, bounds)}`,
    columns: ['time', SIGNED_MESSAGE_FIELD],
  };
}

/** How many accepted readings the device has within `bounds`. */
export const countStatement = (measurement: string, device: string, bounds: readonly Bound[]): string =>
  `SELECT count(${field(SIGNED_MESSAGE_FIELD)}) FROM ${quoteIdent(measurement)} WHERE ${where(device, bounds)}`;
