/** InfluxDB `/query` results to Grafana data frames, one function per query type. Pure. */
import { FieldType, type DataFrame, type Field, type MetricFindValue } from '@grafana/data';
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { STATUS_TAG, VERIFIED_TAG, VERIFY_STATUSES, isVerifyStatus, type VerifyStatus } from '../../core/status';
import { STATUS_LABEL, STATUS_REASON } from '../shared/statusText';
import { TRUST_FIELDS, TRUST_FRAME_KIND, countField } from '../shared/trustFrame';
import { SEVERITY, rowVerdict, tagText, type TrustStatus } from '../shared/verdict';
import { InfluxQLError } from '../../core/influxql';
import type { InfluxResult, InfluxSeries } from './influxAnswers';
import { TRUST_COUNT_STATEMENTS, type AdHocFilter } from './statements';

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

/** A device's rows that share its latest time in one statement's answer. */
interface Latest<T> {
  time: number;
  rows: T[];
}

/** Keeps the rows with the greatest time: ties are kept, so that none of them can hide another. */
function keepLatest<T>(latest: Latest<T> | undefined, time: number, row: T): Latest<T> {
  if (!latest || time > latest.time) return { time, rows: [row] };
  if (time === latest.time) latest.rows.push(row);
  return latest;
}

/**
 * A tag of a row. Tags the statement grouped by are in the series' `tags`, where nothing but a tag can be;
 * otherwise the column the statement selected (`"verified"::tag`). A tag value is a string, so a boolean
 * or a number in that column came from a field of the same name and is no verdict (shared/verdict).
 */
const tagOf = (s: InfluxSeries, row: Row, key: string): string | undefined =>
  tagText(s.tags && Object.prototype.hasOwnProperty.call(s.tags, key) ? s.tags[key] : row[key]);

interface LastRow {
  verified?: string;
  status?: string;
}

interface SignedRow {
  values: number[];
  message?: string;
  signature?: string;
}

interface DeviceRow {
  last?: Latest<LastRow>;
  signed?: Latest<SignedRow>;
  counts: Map<VerifyStatus, number>;
}

/** The verified rows at the latest verified time, if they all carry their proof and say the same thing. */
function provenSigned(latest: Latest<SignedRow> | undefined): (SignedRow & { at: number }) | undefined {
  const [first, ...others] = latest?.rows ?? [];
  if (!latest || !first?.message || !first.signature || first.values.length === 0) return undefined;
  const same = (r: SignedRow) =>
    r.message === first.message &&
    r.signature === first.signature &&
    r.values.length === first.values.length &&
    r.values.every((v, i) => v === first.values[i]);
  return others.every(same) ? { ...first, at: latest.time } : undefined;
}

/**
 * A device's verdict, failing closed: the worst verdict of the rows at its latest time (statement 0), and
 * `ok` only if those rows are all verified and the last verified row (statement 1) is one of that time
 * and carries `signed_message` and `Signature`.
 */
function judge(d: DeviceRow, signed: ReturnType<typeof provenSigned>): { verdict?: TrustStatus; status?: string } {
  if (!d.last) return {};
  const judged = d.last.rows.map((r) => ({ verdict: rowVerdict(r.verified, r.status), status: r.status }));
  const worst = judged.reduce((a, b) => (SEVERITY[b.verdict] > SEVERITY[a.verdict] ? b : a));
  if (worst.verdict !== 'ok') return worst;
  return { verdict: signed?.at === d.last.time ? 'ok' : 'unproven', status: worst.status };
}

/** The tags a device is selected by on the trust frame: its last verdict, never a subset of its readings. */
export const VERDICT_TAGS: ReadonlySet<string> = new Set([VERIFIED_TAG, STATUS_TAG]);

/**
 * An InfluxQL regex (RE2) as a JavaScript one. The patterns written by core/influxql use `\x{…}` escapes,
 * which JavaScript spells `\u{…}`; anything JavaScript cannot read is refused rather than guessed.
 */
function re2(pattern: string): RegExp {
  try {
    // Escapes are read pairwise from the left, so `\\x{41}` stays an escaped backslash and a letter.
    return new RegExp(
      pattern.replace(/\\(?:x\{([0-9a-fA-F]+)\}|[^])/g, (m, hex?: string) => (hex ? `\\u{${hex}}` : m)),
      'u',
    );
  } catch {
    throw new InfluxQLError(`the filter's regular expression /${pattern}/ cannot be applied to a device's verdict`);
  }
}

/**
 * Whether a device's last verdict passes a filter on `verified` or `verify_status`, with InfluxQL's meaning
 * of each operator (a missing tag is the empty string; `=~` matches anywhere unless anchored).
 */
export function verdictMatches(tags: Readonly<Record<string, string | undefined>>, f: AdHocFilter): boolean {
  const v = tags[f.key] ?? '';
  switch (f.operator) {
    case '=':
      return v === f.value;
    case '!=':
      return v !== f.value;
    case '=~':
      return re2(f.value).test(v);
    case '!~':
      return !re2(f.value).test(v);
    case '=|':
      return (f.values ?? [f.value]).includes(v);
    case '!=|':
      return !(f.values ?? [f.value]).includes(v);
    default:
      throw new InfluxQLError(`ad-hoc filter operator "${f.operator}" is not supported (use =, !=, =~, !~)`);
  }
}

/** Whether a series comes from a statement that selected the proof of its rows (signed_message, Signature). */
const carriesProof = (s: InfluxSeries): boolean =>
  s.columns.includes(TRUST_FIELDS.signedMessage) || s.columns.includes(TRUST_FIELDS.signature);

/** The window's tag columns: what identifies a row, never one of its fields. */
const VERDICT_COLUMNS: ReadonlySet<string> = new Set([DEVICE_TAG, VERIFIED_TAG, STATUS_TAG]);

/** A value that rows of one verdict and time disagree on: no number, no text, so never a proof. */
const CONFLICT = Symbol('conflict');

/**
 * Whether a series' rows say their verdict: grouped by the verdict tags (selectors), or selecting them
 * as columns (the window's raw rows). An answer of proof rows alone tells nothing about other verdicts.
 */
const saysVerdict = (s: InfluxSeries): boolean =>
  (!!s.tags && Object.prototype.hasOwnProperty.call(s.tags, VERIFIED_TAG)) || s.columns.includes(VERIFIED_TAG);

/**
 * One row per device from the trust statements (see statements.ts): the last rows per verdict, the
 * proof of verified rows, and the counts (TRUST_COUNT_STATEMENTS); results past the statements are the
 * window's raw rows (trust.ts). A verified row's fields may come in one row (short ranges, the window)
 * or one statement per field (long ranges): fields of one device, verdict and time are joined, and a
 * field that is missing at that time stays missing. Each answer may hold several rows per device
 * (several series, or ties at the latest time): all rows at the latest time count.
 * `select`: filters on `verified` / `verify_status` (the dashboard's `$status`, ad hoc filters); they keep
 * the devices whose last verdict passes them, after each device was judged from all of its readings.
 */
export function trustFrame(
  results: readonly InfluxResult[],
  totalField: string,
  refId: string,
  executed: string,
  select: readonly AdHocFilter[] = [],
): DataFrame {
  const devices = new Map<string, DeviceRow>();
  const named = (name: string | undefined): DeviceRow | undefined => {
    if (!name) return undefined; // rows without a device tag cannot be attributed
    let d = devices.get(name);
    if (!d) devices.set(name, (d = { counts: new Map() }));
    return d;
  };
  const get = (s: InfluxSeries): DeviceRow | undefined => named(s.tags?.[DEVICE_TAG]);
  /** A row's device: the series' tag (grouped), or the row's `"device"::tag` column (the window). */
  const deviceOf = (s: InfluxSeries, row: Row): string | undefined => s.tags?.[DEVICE_TAG] ?? str(row[DEVICE_TAG]) ?? undefined;
  const rowResults = results.map((r, i) => (TRUST_COUNT_STATEMENTS.includes(i) ? [] : (r?.series ?? [])));
  // Last rows: result 0's (grouped by verdict), and every other series that says its rows' verdict.
  for (const s of rowResults.flatMap((series, i) => (i === 0 ? series : series.filter(saysVerdict)))) {
    for (const row of rowsOf(s)) {
      const d = named(deviceOf(s, row));
      const time = num(row.time);
      if (d && time !== null)
        d.last = keepLatest(d.last, time, { verified: tagOf(s, row, VERIFIED_TAG), status: tagOf(s, row, STATUS_TAG) });
    }
  }
  // Verified rows: their fields joined by device, verdict and time across statements (result 0 only
  // where it selected the proof: its last rows say nothing of the proof otherwise). Within one statement
  // the rows of one key must be one row; a field two rows disagree on is poisoned, and so unproven.
  const joined = new Map<string, { d: DeviceRow; time: number; fields: Row }>();
  for (const [i, series] of rowResults.entries()) {
    const mine = new Map<string, { d: DeviceRow; time: number; row: Row }>();
    for (const s of i === 0 ? series.filter(carriesProof) : series) {
      for (const row of rowsOf(s)) {
        const name = deviceOf(s, row);
        const d = named(name);
        const time = num(row.time);
        const verified = tagOf(s, row, VERIFIED_TAG); // where a row says, it must say verified
        if (!d || time === null || (verified !== undefined && verified !== 'true')) continue;
        const key = [name, verified, tagOf(s, row, STATUS_TAG), time].join('\u0000');
        const seen = mine.get(key);
        if (!seen) mine.set(key, { d, time, row });
        else for (const k of new Set([...Object.keys(seen.row), ...Object.keys(row)])) if (seen.row[k] !== row[k]) seen.row[k] = CONFLICT;
      }
    }
    for (const [key, { d, time, row }] of mine) {
      const into = joined.get(key) ?? { d, time, fields: {} };
      joined.set(key, into);
      for (const [k, v] of Object.entries(row)) {
        if (k === 'time' || VERDICT_COLUMNS.has(k) || v === null || v === undefined) continue;
        into.fields[k] = into.fields[k] === undefined || into.fields[k] === v ? v : CONFLICT;
      }
    }
  }
  for (const { d, time, fields } of joined.values()) {
    const poisoned = Object.values(fields).includes(CONFLICT);
    d.signed = keepLatest(d.signed, time, {
      values: totalsOf(fields, totalField),
      message: poisoned ? undefined : (str(fields[TRUST_FIELDS.signedMessage]) ?? undefined),
      signature: str(fields[TRUST_FIELDS.signature]) ?? undefined,
    });
  }
  // Counts per statement, summed over a device's series of one status; statements counting the same rows
  // by different fields (a verified series by its Total or by its first phase) are merged by the larger count.
  for (const i of TRUST_COUNT_STATEMENTS) {
    const counts = new Map<DeviceRow, Map<VerifyStatus, number>>();
    for (const s of results[i]?.series ?? []) {
      const tagged = s.tags?.[STATUS_TAG] ?? '';
      const [row] = rowsOf(s);
      const d = get(s);
      if (!row || !d || !isVerifyStatus(tagged)) continue; // untagged rows predate meterproof
      // An `ok` without `verified=true` beside it is no verified reading (a row written past the processor).
      const status = tagged === 'ok' && s.tags?.[VERIFIED_TAG] !== 'true' ? 'malformed' : tagged;
      const count = Math.max(
        0,
        ...Object.entries(row)
          .filter(([k]) => k.startsWith('count_'))
          .map(([, v]) => num(v) ?? 0),
      );
      const mine = counts.get(d) ?? new Map<VerifyStatus, number>();
      counts.set(d, mine.set(status, (mine.get(status) ?? 0) + count)); // one series per status, or several if grouped finer
    }
    for (const [d, mine] of counts) for (const [status, n] of mine) d.counts.set(status, Math.max(d.counts.get(status) ?? 0, n));
  }

  const judged = [...devices.keys()]
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
    .map((name) => {
      const d = devices.get(name)!;
      const signed = provenSigned(d.signed);
      return { name, ...d, ...judge(d, signed), lastSeen: d.last?.time, signed };
    })
    .filter((d) => {
      const tags = { [VERIFIED_TAG]: d.verdict === undefined ? undefined : String(d.verdict === 'ok'), [STATUS_TAG]: d.status };
      return select.every((f) => verdictMatches(tags, f));
    });
  const names = judged.map((d) => d.name);
  const rows = judged;
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
        { displayName: 'Last verify_status' },
      ),
      field(
        F.verdict,
        FieldType.string,
        rows.map((d) => d.verdict ?? null),
        { displayName: 'Last verdict' },
      ),
      field(
        F.verified,
        FieldType.boolean,
        rows.map((d) => (d.verdict === undefined ? null : d.verdict === 'ok')),
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
        rows.map((d) => d.signed?.at ?? null),
        { displayName: 'Last verified reading' },
      ),
      field(
        F.signedTotal,
        FieldType.number,
        rows.map((d) => (d.signed?.values.length === 1 ? d.signed.values[0] : null)),
        { displayName: 'Signed total', unit: KWH },
      ),
      field(
        F.signedValues,
        FieldType.other,
        rows.map((d) => d.signed?.values ?? null),
      ),
      field(
        F.signedMessage,
        FieldType.string,
        rows.map((d) => d.signed?.message ?? null),
      ),
      field(
        F.signature,
        FieldType.string,
        rows.map((d) => d.signed?.signature ?? null),
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

/** Devices whose verified Total went down in the range (statements.ts `totalsRangeStatement`): a key changed. */
export function keyChangeSuspects(result: InfluxResult | undefined, totalField: string): string[] {
  const out: string[] = [];
  for (const s of result?.series ?? []) {
    const device = s.tags?.[DEVICE_TAG];
    const [row] = rowsOf(s);
    if (!device || !row) continue;
    const phases = totalColumns(
      s.columns.filter((c) => c.startsWith('first_')).map((c) => c.slice('first_'.length)),
      totalField,
    );
    const wentDown = phases.some((c) => {
      const [first, least, most, last] = ['first', 'min', 'max', 'last'].map((f) => num(row[`${f}_${c}`]) ?? NaN) as [
        number,
        number,
        number,
        number,
      ];
      // A Total that never goes down starts at its least and ends at its greatest (NaN: a phase not present).
      return least < first || most > last;
    });
    if (wentDown) out.push(device);
  }
  return out;
}

/** A verified Total that went down: the first verified reading (interval) under a new key. */
export interface KeyChange {
  time: number;
  device: string;
  before: Array<number | null>;
  after: Array<number | null>;
}

/** Where each device's verified Totals over time (signedTotalsStatement) went down, per phase. */
export function keyChanges(result: InfluxResult | undefined, totalField: string): KeyChange[] {
  const out: KeyChange[] = [];
  for (const s of result?.series ?? []) {
    const device = s.tags?.[DEVICE_TAG];
    if (!device) continue;
    const columns = totalColumns(
      s.columns.map((c) => c.replace(/^last_/, '')),
      totalField,
    );
    const rows = rowsOf(s)
      .map((r) => ({ time: num(r.time), values: columns.map((c) => num(r[`last_${c}`])) }))
      .filter((r): r is { time: number; values: Array<number | null> } => r.time !== null && r.values.some((v) => v !== null))
      .sort((a, b) => a.time - b.time);
    let before: Array<number | null> | undefined;
    for (const { time, values } of rows) {
      if (before?.some((b, i) => b !== null && values[i] !== null && values[i]! < b)) out.push({ time, device, before, after: values });
      before = values.map((v, i) => v ?? before?.[i] ?? null);
    }
  }
  return out;
}

const totalsText = (values: ReadonlyArray<number | null>): string => values.filter((v) => v !== null).join(' / ');

/**
 * Annotation events (Grafana's standard mapping: `time`, `title`, `text`, `tags`): readings that failed with
 * a bad signature, a replay or a rollback, and the verified readings where a new key took over.
 */
export function annotationsFrame(
  failures: InfluxResult | undefined,
  changes: readonly KeyChange[],
  refId: string,
  executed: string,
): DataFrame {
  const events: Array<{ time: number; title: string; text: string; tags: string[] }> = [];
  const series = failures?.series?.[0];
  for (const r of series ? rowsOf(series) : []) {
    const time = num(r.time);
    const device = str(r[DEVICE_TAG]) ?? '(no device tag)';
    const status = str(r[STATUS_TAG]);
    if (time === null || !status || !isVerifyStatus(status)) continue;
    const topic = str(r[TOPIC_TAG]);
    events.push({
      time,
      title: `${STATUS_LABEL[status]}: ${device}`,
      text: `${device}: ${STATUS_LABEL[status]}. ${STATUS_REASON[status]}.${topic ? ` Topic ${topic}.` : ''}`,
      tags: [status, device],
    });
  }
  for (const c of changes) {
    events.push({
      time: c.time,
      title: `key change: ${c.device}`,
      text:
        `${c.device}: a new key. The verified Total went down (${totalsText(c.before)} → ${totalsText(c.after)}), which the ` +
        'processor accepts only under a key registered after the last accepted reading (a hard reset, then keys rotate).',
      tags: ['key_change', c.device],
    });
  }
  events.sort((a, b) => a.time - b.time);
  return frame(
    refId,
    [
      field(
        'time',
        FieldType.time,
        events.map((e) => e.time),
      ),
      field(
        'title',
        FieldType.string,
        events.map((e) => e.title),
      ),
      field(
        'text',
        FieldType.string,
        events.map((e) => e.text),
      ),
      field(
        'tags',
        FieldType.other,
        events.map((e) => e.tags),
      ),
    ],
    { name: 'meterproof annotations', meta: { executedQueryString: executed } },
  );
}
