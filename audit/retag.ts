/**
 * `meterproof audit --retag`: rewrites verified-later rows (late-keys.ts) as the processor would have
 * written them had the key been registered: the same measurement, tags, fields and timestamp, with
 * `verified=true`, `verify_status=ok` and the field `signed_message`. Then it deletes the old point.
 *
 * The old and the corrected point differ in the tags `verified` and `verify_status`, so they are two
 * series. The DELETE names every tag key of the measurement (`"k"::tag = 'v'`, or `= ''` for a tag the
 * series lacks) and the exact time, so it removes the old point and nothing else: not the corrected one
 * (`verified=true`), and not a point of a series with one more tag. InfluxDB 1.6 accepts `::tag` and an
 * RFC 3339 `time =` in DELETE (test/services/audit.retag.test.ts); InfluxDB 2.x/3.x do not run DELETE
 * through InfluxQL, and a probe before the first write says so.
 *
 * Order: the newest rows first, each batch written before its old points are deleted. Interrupted at any
 * point, the database holds no lost row, and the next audit still finds the rest verified later: the rows
 * left are older than every corrected one, and an old point whose corrected copy was already written is
 * recognised and only deleted.
 */
import { formatFieldValue, escapeFieldKey, escapeStringField, escapeTagKey, escapeTagValue, writesAsIs } from '../core/lineprotocol/encode';
import { quoteIdent, quoteString, tagRef } from '../core/influxql';
import { SIGNED_MESSAGE_FIELD, STATUS_TAG, VERIFIED_TAG } from '../core/status';
import { execute, writeLines, type InfluxTarget } from './influx-pager';
import type { Rewrite, VerifiedLater } from './late-keys';
import type { ColumnSource } from './select';

/** Fields the processor never passes through: a row carrying one was written past it. */
const RESERVED_FIELDS = new Set([VERIFIED_TAG, STATUS_TAG, SIGNED_MESSAGE_FIELD]);

/** Writes stored rows back, corrected. `sources` describe the audit SELECT's columns after `time`. */
export class RowWriter {
  constructor(
    private readonly measurement: string,
    private readonly sources: readonly ColumnSource[],
    private readonly fieldTypes: ReadonlyMap<string, ReadonlySet<string>>,
  ) {}

  rewrite(row: readonly unknown[], time: string, signedMessage: string): Rewrite | { problem: string } {
    const ns = nanoseconds(time);
    if (ns === undefined) return { problem: `the stored time "${time}" is not an RFC 3339 UTC time` };
    if (!safeName(this.measurement)) return { problem: `the measurement name cannot be written back exactly` };
    const tags: [string, string][] = [];
    const where: string[] = [];
    const fields: string[] = [];
    for (let i = 0; i < this.sources.length; i++) {
      const { kind, name } = this.sources[i]!;
      const v = row[i + 1];
      if (kind === 'tag') {
        const value = typeof v === 'string' ? v : '';
        where.push(`${tagRef(name)} = ${quoteString(value)}`);
        if (value === '' || name === VERIFIED_TAG || name === STATUS_TAG) continue;
        if (!safeName(name) || !writesAsIs(value))
          return { problem: `the tag ${name}=${JSON.stringify(value)} cannot be written back exactly` };
        tags.push([name, value]);
        continue;
      }
      if (v === null || v === undefined) continue;
      if (RESERVED_FIELDS.has(name)) return { problem: `it carries a field "${name}", which the processor never passes through` };
      if (!safeName(name)) return { problem: `the field name ${JSON.stringify(name)} cannot be written back exactly` };
      const value = fieldValue(v, this.fieldTypes.get(name));
      if (typeof value !== 'string') return { problem: `field "${name}": ${value.problem}` };
      fields.push(`${escapeFieldKey(name)}=${value}`);
    }
    tags.push([VERIFIED_TAG, 'true'], [STATUS_TAG, 'ok']);
    tags.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    fields.push(`${escapeFieldKey(SIGNED_MESSAGE_FIELD)}="${escapeStringField(signedMessage)}"`);
    const head = [escapeMeasurement(this.measurement), ...tags.map(([k, v]) => `${escapeTagKey(k)}=${escapeTagValue(v)}`)].join(',');
    return {
      line: `${head} ${fields.join(',')} ${ns}`,
      deletion: `DELETE FROM ${quoteIdent(this.measurement)} WHERE ${where.join(' AND ')} AND time = ${quoteString(time)}`,
    };
  }
}

/** A field value in line protocol, of the type the measurement holds it as (all shards must agree). */
function fieldValue(v: unknown, types: ReadonlySet<string> | undefined): string | { problem: string } {
  const type = types?.size === 1 ? [...types][0] : undefined;
  if (type === undefined)
    return { problem: types && types.size > 1 ? `its type differs between shards (${[...types].join(', ')})` : 'its type is unknown' };
  if (type === 'string' && typeof v === 'string') return `"${escapeStringField(v)}"`;
  if (type === 'boolean' && typeof v === 'boolean') return String(v);
  if (type === 'float' && typeof v === 'number' && Number.isFinite(v)) return formatFieldValue(v);
  if (type === 'integer' && typeof v === 'number') {
    // InfluxDB's JSON answer is read as a double: beyond 2^53 the exact integer is gone.
    return Number.isSafeInteger(v) ? `${v}i` : { problem: `the integer ${v} may have lost digits in InfluxDB's JSON answer` };
  }
  return { problem: `a ${typeof v} where the measurement holds ${type}` };
}

/** Names that read back exactly as written (no control characters, no backslashes). */
const safeName = (name: string): boolean => writesAsIs(name);

/** A measurement in line protocol escapes only commas and spaces. */
const escapeMeasurement = (name: string): string => name.replace(/[, ]/g, (c) => `\\${c}`);

/** InfluxDB's RFC 3339 answer (`2024-03-01T00:00:00.000000123Z`, UTC) as nanoseconds since the epoch. */
export function nanoseconds(time: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(time);
  const ms = m ? Date.parse(`${m[1]}Z`) : NaN;
  if (!m || Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** A write or delete failed: `done` rows were re-tagged before it; `wrote`: whether anything was written. */
export class RetagFailed extends Error {
  constructor(
    message: string,
    readonly done: readonly VerifiedLater[],
    readonly wrote: boolean,
  ) {
    super(message);
  }
}

const WRITE_BATCH = 500;
const DELETES_PER_REQUEST = 100;

/**
 * Rewrites `rows` (each with its `rewrite`), newest first, and returns them in stored order. Throws
 * RetagFailed with the rows done so far when InfluxDB refuses a write or a delete.
 */
export async function retag(
  target: InfluxTarget,
  measurement: string,
  rows: readonly VerifiedLater[],
  onProgress?: (done: number) => void,
): Promise<VerifiedLater[]> {
  const todo = rows.filter((r) => r.rewrite !== undefined);
  const done: VerifiedLater[] = [];
  let wrote = false;
  const fail = (e: unknown): never => {
    throw new RetagFailed(e instanceof Error ? e.message : String(e), [...done].reverse(), wrote);
  };
  if (todo.length === 0) return [];
  // Matches no series: whether DELETE runs at all (privileges, InfluxDB 2.x/3.x), before anything is written.
  const nothing = `${tagRef(STATUS_TAG)} = 'ok' AND ${tagRef(STATUS_TAG)} = 'bad_signature'`;
  await execute(target, `DELETE FROM ${quoteIdent(measurement)} WHERE ${nothing}`).catch(fail);
  const newestFirst = [...todo].reverse();
  for (let start = 0; start < newestFirst.length; start += WRITE_BATCH) {
    const batch = newestFirst.slice(start, start + WRITE_BATCH);
    const lines = batch.filter((r) => !r.corrected).map((r) => r.rewrite!.line);
    wrote = true; // a refused write may still have stored some points
    if (lines.length > 0) await writeLines(target, `${lines.join('\n')}\n`).catch(fail);
    for (let d = 0; d < batch.length; d += DELETES_PER_REQUEST) {
      const part = batch.slice(d, d + DELETES_PER_REQUEST);
      await execute(target, part.map((r) => r.rewrite!.deletion).join('; ')).catch(fail);
      done.push(...part);
      onProgress?.(done.length);
    }
  }
  return done.reverse();
}
