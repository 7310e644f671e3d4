/** InfluxDB `/query` results to Grafana data frames, one function per query type. Pure. */
import { FieldType, type DataFrame, type Field, type MetricFindValue } from '@grafana/data';
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { STATUS_TAG, VERIFIED_TAG, VERIFY_STATUSES, isVerifyStatus, type VerifyStatus } from '../../core/status';
import { STATUS_REASON } from '../shared/statusText';
import { TRUST_FIELDS, TRUST_FRAME_KIND, countField } from '../shared/trustFrame';
import type { InfluxResult, InfluxSeries } from './influxClient';

const KWH = 'kwatth';
const { deviceTag: DEVICE_TAG, topicTag: TOPIC_TAG, time: TIME_FIELD } = DEFAULT_FIELD_NAMES;

type Row = Record<string, unknown>;

const rowsOf = (s: InfluxSeries): Row[] => (s.values ?? []).map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i] ?? null])));

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function field(name: string, type: FieldType, values: unknown[], config: Field['config'] = {}, labels?: Field['labels']): Field {
  return { name, type, values, config, ...(labels && { labels }) };
}

function frame(refId: string, fields: Field[], extra: Partial<DataFrame> = {}): DataFrame {
  return { refId, fields, length: fields[0]?.values.length ?? 0, ...extra };
}

/** Total columns of a row, in phase order: `[Total]`, or `[Total_0, Total_1, …]` on multi-phase meters. */
function totalColumns(columns: readonly string[], totalField: string): string[] {
  const phase = (c: string): number => (c === totalField ? -1 : Number(c.slice(totalField.length + 1)));
  return columns
    .filter((c) => c === totalField || (c.startsWith(`${totalField}_`) && /^\d+$/.test(c.slice(totalField.length + 1))))
    .sort((a, b) => phase(a) - phase(b));
}

/** The stored totals of one row: the single Total if present, else every phase that has a value. */
function totalsOf(row: Row, totalField: string): number[] {
  const single = num(row[totalField]);
  if (single !== null) return [single];
  return totalColumns(Object.keys(row), totalField)
    .map((c) => num(row[c]))
    .filter((v): v is number => v !== null);
}

interface DeviceRow {
  status?: string;
  verified?: boolean;
  lastSeen?: number;
  signedAt?: number;
  values?: number[];
  message?: string;
  signature?: string;
  counts: Map<VerifyStatus, number>;
}

/** One row per device from the three trust statements (see statements.ts). */
export function trustFrame(results: readonly InfluxResult[], totalField: string, refId: string, executed: string): DataFrame {
  const devices = new Map<string, DeviceRow>();
  const get = (s: InfluxSeries): DeviceRow | undefined => {
    const name = s.tags?.[DEVICE_TAG];
    if (!name) return undefined; // rows without a device tag cannot be attributed
    let d = devices.get(name);
    if (!d) devices.set(name, (d = { counts: new Map() }));
    return d;
  };
  for (const s of results[0]?.series ?? []) {
    const [row] = rowsOf(s);
    const d = get(s);
    if (!row || !d) continue;
    d.status = str(row[STATUS_TAG]) ?? undefined;
    d.verified = row[VERIFIED_TAG] === 'true';
    d.lastSeen = num(row.time) ?? undefined;
  }
  for (const s of results[1]?.series ?? []) {
    const [row] = rowsOf(s);
    const d = get(s);
    if (!row || !d) continue;
    d.signedAt = num(row.time) ?? undefined;
    d.values = totalsOf(row, totalField);
    d.message = str(row[TRUST_FIELDS.signedMessage]) ?? undefined;
    d.signature = str(row[TRUST_FIELDS.signature]) ?? undefined;
  }
  for (const s of results[2]?.series ?? []) {
    const status = s.tags?.[STATUS_TAG] ?? '';
    const [row] = rowsOf(s);
    const d = get(s);
    if (!row || !d || !isVerifyStatus(status)) continue; // untagged rows predate meterproof
    const count = Math.max(
      0,
      ...Object.entries(row)
        .filter(([k]) => k.startsWith('count_'))
        .map(([, v]) => num(v) ?? 0),
    );
    d.counts.set(status, count);
  }

  const names = [...devices.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const rows = names.map((n) => devices.get(n)!);
  const readings = rows.map((d) => [...d.counts.values()].reduce((a, b) => a + b, 0));
  const F = TRUST_FIELDS;
  return frame(
    refId,
    [
      field(F.device, FieldType.string, names, { displayName: 'Device' }),
      field(
        F.status,
        FieldType.string,
        rows.map((d) => d.status ?? null),
        { displayName: 'Last verdict' },
      ),
      field(
        F.verified,
        FieldType.boolean,
        rows.map((d) => d.verified ?? null),
      ),
      field(
        F.lastSeen,
        FieldType.time,
        rows.map((d) => d.lastSeen ?? null),
        { displayName: 'Last reading' },
      ),
      field(
        F.signedAt,
        FieldType.time,
        rows.map((d) => d.signedAt ?? null),
        { displayName: 'Last verified reading' },
      ),
      field(
        F.signedTotal,
        FieldType.number,
        rows.map((d) => (d.values?.length === 1 ? d.values[0] : null)),
        { displayName: 'Signed total', unit: KWH },
      ),
      field(
        F.signedValues,
        FieldType.other,
        rows.map((d) => d.values ?? null),
      ),
      field(
        F.signedMessage,
        FieldType.string,
        rows.map((d) => d.message ?? null),
      ),
      field(
        F.signature,
        FieldType.string,
        rows.map((d) => d.signature ?? null),
      ),
      field(F.readings, FieldType.number, readings),
      field(
        F.verifiedShare,
        FieldType.number,
        rows.map((d, i) => (readings[i] ? (d.counts.get('ok') ?? 0) / readings[i]! : null)),
        {
          displayName: 'Verified share',
          unit: 'percentunit',
        },
      ),
      ...VERIFY_STATUSES.map((st) =>
        field(
          countField(st),
          FieldType.number,
          rows.map((d) => d.counts.get(st) ?? 0),
        ),
      ),
    ],
    { name: 'Trust status', meta: { custom: { meterproof: TRUST_FRAME_KIND }, executedQueryString: executed } },
  );
}

/** One frame per device and phase: the verified totals over time. */
export function signedTotalsFrames(result: InfluxResult | undefined, totalField: string, refId: string, executed: string): DataFrame[] {
  const frames: DataFrame[] = [];
  for (const s of result?.series ?? []) {
    const device = s.tags?.[DEVICE_TAG] ?? '';
    const rows = rowsOf(s);
    const columns = totalColumns(
      s.columns.map((c) => c.replace(/^last_/, '')),
      totalField,
    );
    for (const column of columns) {
      const points = rows.map((r) => [num(r.time), num(r[`last_${column}`])] as const).filter(([t, v]) => t !== null && v !== null);
      if (points.length === 0) continue;
      const phase = column === totalField ? '' : ` L${Number(column.slice(totalField.length + 1)) + 1}`;
      frames.push(
        frame(
          refId,
          [
            field(
              'Time',
              FieldType.time,
              points.map(([t]) => t),
            ),
            field(
              column,
              FieldType.number,
              points.map(([, v]) => v),
              { displayNameFromDS: `${device}${phase}`, unit: KWH },
              { [DEVICE_TAG]: device },
            ),
          ],
          { name: `${device}${phase}`, meta: { executedQueryString: executed } },
        ),
      );
    }
  }
  return frames;
}

/** Readings that did not verify, newest first, with the reason in words. */
export function eventsFrame(result: InfluxResult | undefined, totalField: string, refId: string, executed: string): DataFrame {
  const series = result?.series?.[0];
  const rows = series ? rowsOf(series) : [];
  const totals = series ? totalColumns(series.columns, totalField).filter((c) => rows.some((r) => num(r[c]) !== null)) : [];
  const status = rows.map((r) => str(r[STATUS_TAG]));
  return frame(
    refId,
    [
      field(
        'time',
        FieldType.time,
        rows.map((r) => num(r.time)),
      ),
      field(
        DEVICE_TAG,
        FieldType.string,
        rows.map((r) => str(r[DEVICE_TAG])),
        { displayName: 'Device' },
      ),
      field(STATUS_TAG, FieldType.string, status, { displayName: 'Status' }),
      field(
        'reason',
        FieldType.string,
        status.map((s) => (s && isVerifyStatus(s) ? STATUS_REASON[s] : null)),
        { displayName: 'Reason' },
      ),
      field(
        TIME_FIELD,
        FieldType.string,
        rows.map((r) => str(r[TIME_FIELD])),
        { displayName: 'Device time' },
      ),
      ...totals.map((c) =>
        field(
          c,
          FieldType.number,
          rows.map((r) => num(r[c])),
          { unit: KWH },
        ),
      ),
      field(
        TOPIC_TAG,
        FieldType.string,
        rows.map((r) => str(r[TOPIC_TAG])),
        { displayName: 'Topic' },
      ),
    ],
    { name: 'Verification events', meta: { executedQueryString: executed } },
  );
}

/** `SHOW TAG VALUES` / `SHOW TAG KEYS` to variable values. */
export function showValues(result: InfluxResult | undefined): MetricFindValue[] {
  const values = (result?.series ?? []).flatMap((s) => (s.values ?? []).map((v) => String(v[v.length - 1] ?? '')));
  return [...new Set(values)].map((text) => ({ text, value: text }));
}
