/**
 * The audit's one SELECT, written column by column. Tags are read as `"tag"::tag` and fields as
 * `"field"::field`: a bare name means the field once a field of that name exists, so a single written
 * row with a field `verified` or `device` would otherwise decide how every row is judged.
 */
import { DEFAULT_FIELD_NAMES } from '../core/field-names';
import { fieldRef, quoteIdent, tagRef } from '../core/influxql';
import { STATUS_TAG, VERIFIED_TAG } from '../core/status';

/** The tags the audit judges a row by; a field of one of these names shadows it. */
export const AUDIT_TAGS: readonly string[] = [VERIFIED_TAG, STATUS_TAG, DEFAULT_FIELD_NAMES.deviceTag, DEFAULT_FIELD_NAMES.topicTag];

export interface AuditSelect {
  readonly statement: string;
  /**
   * What each returned column holds, `time` first: a tag or field name for RowLayout, or '' for a
   * field that is read only so that a row holding nothing else is still returned and judged.
   */
  readonly columns: readonly string[];
  /** Where each column after `time` comes from, in order: what `--retag` needs to write a row back. */
  readonly sources: readonly ColumnSource[];
}

export interface ColumnSource {
  readonly kind: 'tag' | 'field';
  readonly name: string;
}

/** `SHOW TAG KEYS`: the other tags a row written back must keep (only `--retag` reads them). */
export const tagKeysStatement = (measurement: string): string => `SHOW TAG KEYS FROM ${quoteIdent(measurement)}`;

/** `SHOW FIELD KEYS`: what the SELECT must name, since InfluxDB returns a row only for a non-null selected field. */
export const fieldKeysStatement = (measurement: string): string => `SHOW FIELD KEYS FROM ${quoteIdent(measurement)}`;

/** Fields named like a tag the audit judges by, in AUDIT_TAGS order. */
export const shadowedTags = (fieldKeys: readonly string[]): string[] => AUDIT_TAGS.filter((t) => fieldKeys.includes(t));

/**
 * Every field, so that no row is skipped, and the four tags. Each column gets its own alias (`c0`, `c1`,
 * …) so that no two share a name (InfluxDB would rename the second `verified` to `verified_1`), and the
 * caller maps them back by position. `otherTags` (for `--retag`) are read too, after the four, as tags;
 * RowLayout never sees them. Undefined when the measurement has no fields (no rows).
 */
export function auditSelect(measurement: string, fieldKeys: readonly string[], otherTags: readonly string[] = []): AuditSelect | undefined {
  const fields = [...new Set(fieldKeys)];
  if (fields.length === 0) return undefined;
  const extra = [...new Set(otherTags)].filter((t) => !AUDIT_TAGS.includes(t));
  const refs = [...AUDIT_TAGS.map(tagRef), ...extra.map(tagRef), ...fields.map(fieldRef)];
  const names = [...AUDIT_TAGS, ...extra.map(() => ''), ...fields.map((f) => (AUDIT_TAGS.includes(f) || f === 'time' ? '' : f))];
  const sources = [
    ...[...AUDIT_TAGS, ...extra].map((name) => ({ kind: 'tag' as const, name })),
    ...fields.map((name) => ({ kind: 'field' as const, name })),
  ];
  return {
    statement: `SELECT ${refs.map((r, i) => `${r} AS ${quoteIdent(`c${i}`)}`).join(', ')} FROM ${quoteIdent(measurement)}`,
    columns: ['time', ...names],
    sources,
  };
}
