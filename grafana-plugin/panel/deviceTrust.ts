/**
 * Data frames to one trust record per device. Two sources are understood:
 * - the meterproof data source's "Trust status" frame (one row per device, see shared/trustFrame), whose
 *   verdict is judged again here from the facts written beside it;
 * - any other frames that carry `device` and `verified` as tags: labels of time series from the stock
 *   InfluxDB data source (`GROUP BY "device", "verified"`), or columns of a table. Each table row, or each
 *   point of a time series, is one observation; `verify_status`, `signed_message` and `Signature` are
 *   used when present.
 * Verdicts fail closed (shared/verdict): the rows of a device that share its latest time must all be
 * verified and agree, and a verified row must carry `signed_message` and `Signature` wherever the query
 * selected them. A verdict is read from tags only: labels, or a table column that can only be the tag.
 */
import { FieldType, type DataFrame, type Field } from '@grafana/data';
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { SIGNED_MESSAGE_FIELD, STATUS_TAG, VERIFIED_TAG, VERIFY_STATUSES, isVerifyStatus, type VerifyStatus } from '../../core/status';
import { TRUST_FIELDS, TRUST_FRAME_KIND, countField } from '../shared/trustFrame';
import { isTrustStatus, rowVerdict, tagText, worstOf, type TrustStatus } from '../shared/verdict';

export type { TrustStatus } from '../shared/verdict';

const { deviceTag: DEVICE_TAG, signature: SIGNATURE_FIELD, total: TOTAL_FIELD } = DEFAULT_FIELD_NAMES;

/** What the panel shows as a device's signed total: the last verified reading as stored, with what was signed. */
interface SignedTotal {
  /** Stored totals, one per phase. */
  values: number[];
  /** The proof, both or neither: neither only when the query did not select them (then values are as stored). */
  message?: string;
  signature?: string;
}

export interface DeviceTrust {
  device: string;
  status?: TrustStatus;
  lastSeen?: number;
  /** Time of the last verified reading. */
  signedAt?: number;
  signed?: SignedTotal;
  readings: number;
  verifiedReadings: number;
  /** Readings per reason, where the source says. */
  counts: Partial<Record<VerifyStatus, number>>;
}

/** Every device the panel's frames mention, one trust record each. */
export interface TrustOverview {
  devices: DeviceTrust[];
  /** Frames that carried neither a trust table nor device/verified tags. */
  ignoredFrames: number;
}

const isTrustFrame = (f: DataFrame): boolean => (f.meta?.custom as { meterproof?: string } | undefined)?.meterproof === TRUST_FRAME_KIND;
const byName = (f: DataFrame, name: string): Field | undefined => f.fields.find((x) => x.name === name);
const at = <T>(field: Field | undefined, i: number): T | undefined => (field?.values[i] ?? undefined) as T | undefined;
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function fromTrustFrame(f: DataFrame): DeviceTrust[] {
  const F = TRUST_FIELDS;
  const col = (name: string) => byName(f, name);
  const counts = VERIFY_STATUSES.map((s) => [s, col(countField(s))] as const);
  const out: DeviceTrust[] = [];
  for (let i = 0; i < f.length; i++) {
    const device = at<string>(col(F.device), i);
    if (!device) continue;
    const lastSeen = at<number>(col(F.lastSeen), i);
    const signedAt = at<number>(col(F.signedAt), i);
    const values = at<unknown>(col(F.signedValues), i);
    const message = tagText(at(col(F.signedMessage), i));
    const signature = tagText(at(col(F.signature), i));
    // A verified row without its proof is no signed total: its number is never shown as one.
    const signed =
      Array.isArray(values) && values.length > 0 && values.every(finite) && message && signature
        ? { values, message, signature }
        : undefined;
    const verified = at<unknown>(col(F.verified), i);
    const own = rowVerdict(
      verified === true ? 'true' : verified === false ? 'false' : undefined,
      at(col(F.status), i),
      signed !== undefined && signedAt === lastSeen,
    );
    // The data source's verdict may make a device worse than the facts beside it show, never better.
    const claimed = at<unknown>(col(F.verdict), i);
    const c: Partial<Record<VerifyStatus, number>> = {};
    for (const [s, field] of counts) {
      const n = at<number>(field, i);
      if (finite(n) && n > 0) c[s] = n;
    }
    out.push({
      device,
      status: isTrustStatus(claimed) && claimed !== 'ok' ? claimed : own,
      lastSeen,
      signedAt: signed ? signedAt : undefined,
      signed,
      readings: at<number>(col(F.readings), i) ?? 0,
      verifiedReadings: c.ok ?? 0,
      counts: c,
    });
  }
  return out;
}

interface Observation {
  device: string;
  /** The `verified` tag; undefined when the row has none the panel can take for a tag. */
  verified?: boolean;
  status?: VerifyStatus;
  verdict: TrustStatus;
  time?: number;
  /** Stored totals by phase; NaN where two columns of the row give one phase different values. */
  totals: number[];
  message?: string;
  signature?: string;
}

/**
 * The table column that holds tag `name`, if it can only be that tag. InfluxDB calls a field and a tag
 * of one name `name` and `name_1` in `SELECT *`; Grafana puts a GROUP BY tag beside a selected field of
 * the same name; and a tag's values are strings. So a name seen twice, a `name_<n>` beside it, or a
 * column of anything but strings may be a field: `ambiguous`, and no tag is read from it.
 */
function tagColumn(f: DataFrame, name: string): { field?: Field; ambiguous: boolean } {
  const same = f.fields.filter((x) => x.name === name);
  const clash = f.fields.some((x) => x.name.startsWith(`${name}_`) && /^\d+$/.test(x.name.slice(name.length + 1)));
  if (same.length === 1 && !clash && same[0]!.type === FieldType.string) return { field: same[0], ambiguous: false };
  return { ambiguous: same.length > 0 || clash };
}

/** A tag of row `i`: the value field's label when it has one (time series), else the table column. */
function tagAt(labels: Field['labels'], column: { field?: Field; ambiguous: boolean }, name: string, i: number): string | undefined {
  if (labels && Object.prototype.hasOwnProperty.call(labels, name)) return tagText(labels[name]);
  return tagText(at(column.field, i));
}

/** `ENERGY_Total` and `ENERGY_Total_0` are phase 0, `ENERGY_Total_2` phase 2, also after an aggregate's prefix (`last_`). */
const TOTAL_COLUMN = new RegExp(`^(?:[a-z][a-z_]*_)?${TOTAL_FIELD}(?:_(\\d+))?$`);
const totalPhase = (column: string): number | undefined => {
  const m = TOTAL_COLUMN.exec(column);
  return m ? Number(m[1] ?? 0) : undefined;
};

/**
 * Grafana's series name without its tags: `measurement.column { tag: value, … }` ends in the labels, in any
 * order, separated by `, ` (Grafana 10+) or by spaces (before). Its length follows from the labels alone,
 * so no tag value, whatever it holds, is mistaken for the column.
 */
function withoutLabels(name: string, labels: Field['labels']): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return name;
  const body = entries.reduce((n, [k, v]) => n + k.length + 2 + v.length, 0);
  for (const sep of [', ', ' ']) {
    const length = 3 + body + sep.length * (entries.length - 1) + 2;
    const tail = name.slice(-length);
    if (name.length >= length && tail.startsWith(' { ') && tail.endsWith(' }')) return name.slice(0, -length);
  }
  return name;
}

/** A Total whose phase cannot be told: its value proves nothing (NaN), but its device is shown. */
const UNKNOWN_PHASE = -1;

/** The InfluxDB column a number field holds, and whether it is a Total and of which phase. */
interface Column {
  name: string;
  phase?: number;
  /** A time series' "Value": no name of its own, so no phase can be read from a suffix. */
  series: boolean;
}

/**
 * A table names its fields after their columns. Grafana's InfluxDB data source names every time series
 * value field "Value" and puts the column in the series name (`config.displayNameFromDS`, the frame's
 * name): `measurement.column { tags }` by default, or the query's alias (`$tag_device $col`, say). Its
 * words (and the part after a dot: `$m.$col`) are searched for one Total column; the tag values in it are
 * not words of the name. Two different Totals in one name tell no phase (UNKNOWN_PHASE).
 */
function columnOf(f: DataFrame, x: Field): Column {
  if (x.name !== 'Value') return { name: x.name, phase: totalPhase(x.name), series: false };
  const series = withoutLabels(x.config?.displayNameFromDS ?? f.name ?? '', x.labels);
  const tagValues = new Set(Object.values(x.labels ?? {}));
  const totals = new Set(
    series
      .split(/\s+/)
      .filter((word) => word && !tagValues.has(word))
      .map((word) => word.slice(word.lastIndexOf('.') + 1))
      .filter((word) => totalPhase(word) !== undefined),
  );
  const [total] = totals;
  if (totals.size === 1) return { name: total!, phase: totalPhase(total!), series: true };
  return totals.size > 1 ? { name: [...totals].join(' '), phase: UNKNOWN_PHASE, series: true } : { name: series, series: true };
}

const TAG_NAMES = new Set([DEVICE_TAG, VERIFIED_TAG, STATUS_TAG, SIGNED_MESSAGE_FIELD, SIGNATURE_FIELD]);

/**
 * The phase of each number column that holds a Total. Where a frame has Total columns, only they do: other
 * columns (`ENERGY_Power`, `ENERGY_Voltage_1`, a look-alike) never stand in for a phase. A frame without
 * one (a query's alias, `last` for `last("ENERGY_Total")`) is read as before: every number column that
 * names no other ENERGY field, its phase from a `_<n>` suffix of a table's column (a time series without
 * its column in the name is phase 0: several of them for one reading disagree, and prove nothing).
 */
function totalColumns(f: DataFrame): Array<{ field: Field; phase: number }> {
  const numbers = f.fields
    .filter((x) => x.type === FieldType.number && !TAG_NAMES.has(x.name))
    .map((field) => ({ field, column: columnOf(f, field) }));
  const totals = numbers.flatMap(({ field, column }) => (column.phase === undefined ? [] : [{ field, phase: column.phase }]));
  if (totals.length) return totals;
  return numbers
    .filter(({ column }) => !column.name.includes('ENERGY_'))
    .map(({ field, column }) => ({ field, phase: column.series ? 0 : Number(/_(\d+)$/.exec(column.name)?.[1] ?? 0) }));
}

/** Observations of one stock frame, or undefined when it has no device/verified information. */
function observe(f: DataFrame): Observation[] | undefined {
  const time = f.fields.find((x) => x.type === FieldType.time);
  const deviceCol = tagColumn(f, DEVICE_TAG);
  const verifiedCol = tagColumn(f, VERIFIED_TAG);
  const statusCol = tagColumn(f, STATUS_TAG);
  if (deviceCol.ambiguous) return undefined; // its rows could be attributed to any device
  const messageCols = f.fields.filter((x) => x.name === SIGNED_MESSAGE_FIELD);
  const signatureCols = f.fields.filter((x) => x.name === SIGNATURE_FIELD);
  // Selected by the query: then a verified row must carry both (twice the same name proves nothing).
  const proofQueried = messageCols.length > 0 || signatureCols.length > 0;
  const proofCol = (cols: Field[]) => (cols.length === 1 ? cols[0] : undefined);
  const [messageCol, signatureCol] = [proofCol(messageCols), proofCol(signatureCols)];
  const values = totalColumns(f);

  const out: Observation[] = [];
  let usable = false;
  for (let i = 0; i < f.length; i++) {
    // The fields of a row that share device and tags make one observation (a table row: all of them).
    const row = new Map<string, Observation>();
    for (const v of values.length ? values : [undefined]) {
      const labels = v?.field.labels;
      const device = tagAt(labels, deviceCol, DEVICE_TAG, i);
      const hasVerdict =
        (labels !== undefined && Object.prototype.hasOwnProperty.call(labels, VERIFIED_TAG)) ||
        verifiedCol.field !== undefined ||
        verifiedCol.ambiguous;
      if (!device || !hasVerdict) continue;
      usable = true;
      const value = at<number>(v?.field, i);
      if (v && !finite(value)) continue; // fill(none) gaps and nulls are not readings
      const verified = tagAt(labels, verifiedCol, VERIFIED_TAG, i);
      const status = tagAt(labels, statusCol, STATUS_TAG, i);
      const key = `${device}\n${verified ?? ''}\n${status ?? ''}`;
      let o = row.get(key);
      if (!o) {
        const message = tagText(at(messageCol, i));
        const signature = tagText(at(signatureCol, i));
        row.set(
          key,
          (o = {
            device,
            verified: verified === 'true' ? true : verified === 'false' ? false : undefined,
            status: status !== undefined && isVerifyStatus(status) ? status : undefined,
            verdict: rowVerdict(verified, status, proofQueried ? Boolean(message && signature) : undefined),
            time: at<number>(time, i),
            totals: [],
            message,
            signature,
          }),
        );
      }
      if (v) {
        const phase = Math.max(v.phase, 0);
        const seen = o.totals[phase];
        o.totals[phase] = v.phase !== UNKNOWN_PHASE && (seen === undefined || seen === value) ? value! : NaN; // two columns, one phase
      }
    }
    out.push(...row.values());
  }
  return usable ? out : undefined;
}

/** Observations of one time that agree on the proof and on each phase; undefined when they do not. */
function agreedTotals(group: readonly Observation[]): number[] | undefined {
  const [first] = group;
  if (!first) return undefined;
  const values: number[] = [];
  for (const o of group) {
    if (o.message !== first.message || o.signature !== first.signature) return undefined;
    for (let p = 0; p < o.totals.length; p++) {
      const v = o.totals[p];
      if (v === undefined) continue;
      if (Number.isNaN(v) || (values[p] !== undefined && values[p] !== v)) return undefined;
      values[p] = v;
    }
  }
  return values;
}

/** The observations that share the newest time (all of them: a tie must not hide one). */
function latestOf(obs: readonly Observation[]): Observation[] {
  let newest = -Infinity;
  for (const o of obs) newest = Math.max(newest, o.time ?? -Infinity);
  return obs.filter((o) => (o.time ?? -Infinity) === newest);
}

function summarize(device: string, obs: readonly Observation[]): DeviceTrust {
  const d: DeviceTrust = { device, readings: 0, verifiedReadings: 0, counts: {} };
  for (const o of obs) {
    if (o.verified === undefined) continue; // as in the data source's counts: untagged rows are no verdicts
    d.readings++;
    if (o.verified) d.verifiedReadings++;
    if (o.status) d.counts[o.status] = (d.counts[o.status] ?? 0) + 1;
  }
  // Last verdict: every observation of the newest time counts, and the worst wins (fail closed).
  const latest = latestOf(obs);
  d.lastSeen = latest[0]?.time;
  const status = worstOf(latest.map((o) => o.verdict));
  d.status = status === 'ok' && agreedTotals(latest) === undefined ? 'unproven' : status;
  // Last signed total: the newest verified observations, if they are proven where the query could say and agree.
  const verified = obs.filter((o) => o.verified);
  if (verified.length === 0) return d;
  const group = latestOf(verified);
  const values = agreedTotals(group);
  if (group.some((o) => o.verdict !== 'ok') || !values?.length || Array.from(values).some((v) => v === undefined)) return d;
  d.signedAt = group[0]!.time;
  d.signed = { values, message: group[0]!.message, signature: group[0]!.signature };
  return d;
}

/**
 * One reading's observations from several frames made one: Grafana's time series give each column of a
 * series its own frame, so a three-phase reading arrives as three frames of one device, time and tags.
 * Their phases are put together (two values for one phase: NaN, which proves nothing) and the worst
 * verdict is kept, so that a reading is counted once. Observations without a time are kept apart.
 */
function mergeReadings(obs: readonly Observation[]): Observation[] {
  const byReading = new Map<string, Observation>();
  const out: Observation[] = [];
  for (const o of obs) {
    const key = o.time === undefined ? undefined : [o.time, o.verified, o.status, o.message, o.signature].join('\n');
    const seen = key === undefined ? undefined : byReading.get(key);
    if (!seen) {
      const copy = { ...o, totals: [...o.totals] };
      if (key !== undefined) byReading.set(key, copy);
      out.push(copy);
      continue;
    }
    seen.verdict = worstOf([seen.verdict, o.verdict])!;
    o.totals.forEach((v, p) => {
      if (v === undefined) return;
      const had = seen.totals[p];
      seen.totals[p] = had === undefined || had === v ? v : NaN;
    });
  }
  return out;
}

export function buildTrustOverview(frames: readonly DataFrame[]): TrustOverview {
  const stock = frames.filter((f) => !isTrustFrame(f));
  const observations = new Map<string, Observation[]>();
  let ignoredFrames = 0;
  for (const f of stock) {
    const o = observe(f);
    if (!o) ignoredFrames++;
    for (const x of o ?? []) {
      const list = observations.get(x.device);
      if (list) list.push(x);
      else observations.set(x.device, [x]);
    }
  }
  const byDevice = new Map<string, DeviceTrust>();
  for (const [device, obs] of observations) byDevice.set(device, summarize(device, mergeReadings(obs)));
  for (const d of frames.filter(isTrustFrame).flatMap(fromTrustFrame)) byDevice.set(d.device, d);
  return { devices: [...byDevice.values()], ignoredFrames };
}
