/**
 * Verified consumption in Grafana (docs/statements.md, docs/grafana.md): per device, the energy between
 * the signed Totals at the ends of the dashboard's time range (the anchors), chosen as
 * `meterproof statement create` chooses them: the start anchor is the last accepted reading at or before
 * `from` (else the first after it), the end anchor the last at or before `to`. A figure is proven only
 * when both anchors re-verify in the browser (panel/recheck.ts's strict verifier) under one registered
 * key and no reading in between went down; a key change or a drop is shown as a gap, never as a number.
 * The figure is exact decimal (core/statement/decimal.ts), and a proven figure comes with a statement
 * (core/statement/format.ts) that `meterproof statement verify` accepts. Browser-safe and pure but for
 * the signature checks (WebCrypto).
 */
import { FieldType, type DataFrame, type Field } from '@grafana/data';
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { SIGNED_TIME_LENGTH, signedTime } from '../../core/firmware';
import { KeyFileError, keysValidAt, parseKeyFile, type KeyEntry, type KeyFile } from '../../core/keyfile';
import { derivedFields, segmentFigures, signedReading } from '../../core/statement/arithmetic';
import { goesDown, parseTotalText, type SignedTotal } from '../../core/statement/decimal';
import { STATEMENT_FORMAT, STATEMENT_NOTES, type Segment, type Statement } from '../../core/statement/format';
import { formatStoredTime } from '../../core/statement/time';
import { recheck } from '../panel/recheck';
import type { InfluxResult, InfluxSeries } from './influxAnswers';
import type { InfluxClient } from './influxClient';
import { consumptionStatements, type Scope } from './statements';

/** `frame.meta.custom.meterproof` of the "Verified consumption" frame. */
export const CONSUMPTION_FRAME_KIND = 'verified-consumption';

/** What the panel needs beside the frame's fields to build a statement (`frame.meta.custom`). */
export interface ConsumptionFrameMeta {
  meterproof: typeof CONSUMPTION_FRAME_KIND;
  fromMs: number;
  toMs: number;
  database: string;
  measurement: string;
}

const { deviceTag: DEVICE_TAG, signature: SIGNATURE_FIELD } = DEFAULT_FIELD_NAMES;
const SIGNED_MESSAGE = 'signed_message';

/** One stored row that may anchor: what was signed, its signature, and the stored Total(s) beside it. */
export interface StoredAnchor {
  /** Stored time, ms since the epoch (the data source asks InfluxDB for `epoch=ms`). */
  readonly storedMs: number;
  readonly message: string;
  readonly signature: string;
  /** Stored Total fields, one per phase. */
  readonly values: readonly number[];
}

/** What the four consumption statements (statements.ts) say about one device. */
export interface DeviceAnchors {
  readonly device: string;
  readonly atFrom?: StoredAnchor;
  readonly firstAfter?: StoredAnchor;
  readonly atTo?: StoredAnchor;
  /** The smallest step of a stored Total from one accepted reading to the next inside the range. */
  readonly minStep?: number;
}

export type ConsumptionStatus =
  /** Both anchors re-verify under one key and nothing went down: the figure is proven. */
  | 'proven'
  /** The anchors verify under different keys, or a reading went down: no single key proves the range. */
  | 'gap'
  /** An anchor does not re-verify here (bad signature, stored Total differs, no key, no WebCrypto). */
  | 'unproven'
  /** No accepted reading in the range. */
  | 'none';

/** An anchor as the browser checked it. */
export interface CheckedAnchor {
  readonly storedMs: number;
  readonly time19: string;
  readonly totalText: string;
  readonly total: SignedTotal;
  readonly message: string;
  readonly signature: string;
  readonly values: readonly number[];
  /** The registered key that verifies the signature now; undefined when none does. */
  readonly key?: KeyEntry;
  /** Why it does not re-verify (when it does not). */
  readonly problem?: string;
}

export interface DeviceConsumption {
  readonly device: string;
  readonly status: ConsumptionStatus;
  /** Why the figure is not proven, in words. */
  readonly reason?: string;
  /** The proven energy as exact decimal text (only when proven). */
  readonly kwhText?: string;
  readonly kwh?: number;
  /** Times no signature covers: the statement's gaps when proven, and at least one more on a key change or drop. */
  readonly gaps: number;
  readonly start?: CheckedAnchor;
  readonly end?: CheckedAnchor;
}

export interface ConsumptionRange {
  readonly fromMs: number;
  readonly toMs: number;
}

// ---- reading the statements' answers ----

type Row = Record<string, unknown>;
const rowsOf = (s: InfluxSeries): Row[] => (s.values ?? []).map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i] ?? null])));
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Total columns of a row in phase order (`Total`, or `Total_0..n`), with a prefix such as `min_difference_`. */
function totalColumns(columns: readonly string[], totalField: string, prefix = ''): string[] {
  const base = `${prefix}${totalField}`;
  const phase = (c: string): number => (c === base ? -1 : Number(c.slice(base.length + 1)));
  return columns
    .filter((c) => c === base || (c.startsWith(`${base}_`) && /^\d+$/.test(c.slice(base.length + 1))))
    .sort((a, b) => phase(a) - phase(b));
}

function anchorOf(row: Row, totalField: string): StoredAnchor | undefined {
  const storedMs = num(row.time);
  const message = row[SIGNED_MESSAGE],
    signature = row[SIGNATURE_FIELD];
  if (storedMs === undefined || typeof message !== 'string' || typeof signature !== 'string') return undefined;
  const single = num(row[totalField]);
  const values =
    single !== undefined
      ? [single]
      : totalColumns(Object.keys(row), totalField)
          .map((c) => num(row[c]))
          .filter((v): v is number => v !== undefined);
  return { storedMs, message, signature, values };
}

/** Per device, from the four consumption statements' results (in their order). */
export function readAnchors(results: readonly InfluxResult[], totalField: string): DeviceAnchors[] {
  const devices = new Map<string, { -readonly [K in keyof DeviceAnchors]: DeviceAnchors[K] }>();
  const get = (s: InfluxSeries) => {
    const name = s.tags?.[DEVICE_TAG];
    if (!name) return undefined;
    let d = devices.get(name);
    if (!d) devices.set(name, (d = { device: name }));
    return d;
  };
  (['atFrom', 'firstAfter', 'atTo'] as const).forEach((which, i) => {
    for (const s of results[i]?.series ?? []) {
      const d = get(s);
      const [row] = d ? rowsOf(s) : [];
      const a = row && anchorOf(row, totalField);
      if (d && a) d[which] = a;
    }
  });
  for (const s of results[3]?.series ?? []) {
    const d = get(s);
    const [row] = d ? rowsOf(s) : [];
    if (!d || !row) continue;
    const steps = totalColumns(Object.keys(row), totalField, 'min_difference_')
      .map((c) => num(row[c]))
      .filter((v): v is number => v !== undefined);
    if (steps.length > 0) d.minStep = Math.min(...steps);
  }
  return [...devices.values()].sort((a, b) => a.device.localeCompare(b.device, undefined, { numeric: true }));
}

// ---- proving ----

const singleKey = (device: string, entry: KeyEntry): KeyFile => ({ devices: new Map([[device, [entry]]]), keyCount: 1, rejected: [] });

/**
 * One anchor re-checked with panel/recheck.ts's verifier (strict Ed25519, and the stored Total must be
 * the signed text), once per registered key valid at its signed Time, so that the key is known.
 */
export async function checkAnchor(device: string, a: StoredAnchor, keys: KeyFile | undefined): Promise<CheckedAnchor | undefined> {
  const time19 = signedTime(a.message) === a.message.slice(0, SIGNED_TIME_LENGTH) ? a.message.slice(0, SIGNED_TIME_LENGTH) : undefined;
  const totalText = a.message[SIGNED_TIME_LENGTH] === ',' ? a.message.slice(SIGNED_TIME_LENGTH + 1) : '';
  const total = parseTotalText(totalText);
  if (!time19 || !total) return undefined;
  const base = {
    storedMs: a.storedMs,
    time19,
    totalText,
    total,
    message: a.message,
    signature: a.signature.toLowerCase(),
    values: a.values,
  };
  if (!keys) return { ...base, problem: 'no public keys to re-check with' };
  const candidates = keysValidAt(keys.devices.get(device) ?? [], time19);
  if (candidates.length === 0) return { ...base, problem: `no registered key of "${device}" is valid at ${time19}` };
  let problem = 'the signature does not verify under any registered key';
  for (const entry of candidates) {
    const outcome = await recheck({ device, message: a.message, signature: a.signature, values: a.values }, singleKey(device, entry));
    if (outcome.kind === 'verified') return { ...base, key: entry };
    if (outcome.kind === 'total_mismatch') return { ...base, problem: `the stored Total differs from the signed one (${outcome.detail})` };
    if (outcome.kind === 'malformed' || outcome.kind === 'unavailable') problem = outcome.detail;
  }
  return { ...base, problem };
}

/** The anchors `meterproof statement create` would choose, among what the statements found. */
export function chooseAnchors(d: DeviceAnchors, range: ConsumptionRange): { start?: StoredAnchor; end?: StoredAnchor } {
  const firstInside = d.firstAfter && d.firstAfter.storedMs <= range.toMs ? d.firstAfter : undefined;
  const start = d.atFrom ?? firstInside;
  if (!start) return {};
  const end = d.atTo && d.atTo.storedMs >= start.storedMs ? d.atTo : start;
  return { start, end };
}

/** One device's consumption over the range, proven or not, with the reason. */
export async function proveConsumption(d: DeviceAnchors, range: ConsumptionRange, keys: KeyFile | undefined): Promise<DeviceConsumption> {
  const chosen = chooseAnchors(d, range);
  if (!chosen.start || !chosen.end) return { device: d.device, status: 'none', reason: 'no verified reading in the time range', gaps: 0 };
  const start = await checkAnchor(d.device, chosen.start, keys);
  const end = chosen.end === chosen.start ? start : await checkAnchor(d.device, chosen.end, keys);
  const edgeGaps = (chosen.start.storedMs > range.fromMs ? 1 : 0) + (chosen.end.storedMs < range.toMs ? 1 : 0);
  const base = { device: d.device, start, end };
  if (!start || !end) return { ...base, status: 'unproven', reason: 'an anchor\'s signed_message is not "<time>,<total>"', gaps: edgeGaps };
  const bad = !start.key ? ['start', start] : !end.key ? ['end', end] : undefined;
  if (bad)
    return {
      ...base,
      status: 'unproven',
      reason: `${bad[0]} anchor (signed ${(bad[1] as CheckedAnchor).time19}): ${(bad[1] as CheckedAnchor).problem}`,
      gaps: edgeGaps,
    };
  const gap = (reason: string): DeviceConsumption => ({ ...base, status: 'gap', reason, gaps: edgeGaps + 1 });
  if (start.key!.key.hex !== end.key!.key.hex)
    return gap('the anchors verify under different keys (a hard reset or a new key inside the range)');
  if (goesDown(start.total, end.total)) return gap(`the Total goes down from ${start.totalText} to ${end.totalText}`);
  const inside = chosen.start === d.firstAfter ? undefined : d.firstAfter;
  const firstInside =
    inside && inside.storedMs <= chosen.end.storedMs ? parseTotalText(inside.message.slice(SIGNED_TIME_LENGTH + 1)) : undefined;
  if ((firstInside && goesDown(start.total, firstInside)) || (d.minStep !== undefined && d.minStep < 0))
    return gap('a verified reading inside the range went down (a hard reset)');
  const figures = segmentFigures(reading(start), reading(end));
  if ('problem' in figures) return { ...base, status: 'unproven', reason: figures.problem, gaps: edgeGaps };
  return { ...base, status: 'proven', kwhText: figures.consumption_kwh_text, kwh: figures.consumption_kwh, gaps: edgeGaps };
}

const storedText = (ms: number): string => formatStoredTime(BigInt(Math.round(ms)) * 1_000_000n);
const reading = (a: CheckedAnchor) => signedReading(a.time19, a.totalText, a.signature, storedText(a.storedMs));

/** The key's fingerprint as `meterproof keys list` prints it: the first 8 bytes of SHA-256, aa:bb:…. */
export async function keyFingerprint(keyHex: string): Promise<string> {
  const bytes = new Uint8Array(keyHex.match(/../g)!.map((h) => parseInt(h, 16)));
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export const STATEMENT_GENERATOR = 'meterproof Grafana trust panel';

/**
 * The statement of a proven figure (core/statement/format.ts), for download: one segment between the two
 * anchors. Only the anchors were checked here, so the segment counts them alone as its readings.
 * Stored times are to the millisecond (the data source reads `epoch=ms`).
 */
export async function consumptionStatement(
  c: DeviceConsumption,
  range: ConsumptionRange,
  source: { database: string; measurement: string },
  now: number = Date.now(),
): Promise<Statement | undefined> {
  if (c.status !== 'proven' || !c.start?.key || !c.end) return undefined;
  const start = reading(c.start),
    end = reading(c.end);
  const figures = segmentFigures(start, end);
  if ('problem' in figures) return undefined;
  const readings = c.start === c.end ? 1 : 2;
  const segment: Segment = {
    public_key: c.start.key.key.hex,
    fingerprint: await keyFingerprint(c.start.key.key.hex),
    start,
    end,
    consumption_kwh_text: figures.consumption_kwh_text,
    consumption_kwh: figures.consumption_kwh,
    phases_kwh_text: figures.phases_kwh_text,
    readings,
  };
  const from = storedText(range.fromMs),
    to = storedText(range.toMs);
  const derived = derivedFields(from, to, [segment]);
  return {
    format: STATEMENT_FORMAT,
    device: c.device,
    from,
    to,
    consumption_kwh: derived.consumption_kwh,
    consumption_kwh_text: derived.consumption_kwh_text,
    phases_kwh_text: derived.phases_kwh_text,
    segments: [segment],
    gaps: derived.gaps,
    readings_checked: readings,
    irregularities: { count: 0, examples: [] },
    source: { database: source.database, measurement: source.measurement },
    created: storedText(now),
    generator: STATEMENT_GENERATOR,
    notes: STATEMENT_NOTES,
  };
}

// ---- the frame ----

/** Field names of the "Verified consumption" frame: the contract with the panel (panel/Consumption.tsx). */
export const CONSUMPTION_FIELDS = {
  device: 'device',
  status: 'status',
  kwh: 'consumption_kwh',
  kwhText: 'consumption_kwh_text',
  gaps: 'gaps',
  reason: 'reason',
  startSignedTime: 'start_signed_time',
  startSignedTotal: 'start_signed_total',
  startStored: 'start_stored_time',
  endSignedTime: 'end_signed_time',
  endSignedTotal: 'end_signed_total',
  endStored: 'end_stored_time',
  /** The raw anchors (StoredAnchor[]: the start, the end, and what else the statements found), for the panel's own check. */
  anchors: 'anchors',
} as const;

function field(name: string, type: FieldType, values: unknown[], config: Field['config'] = {}): Field {
  return { name, type, values, config };
}

/** One row per device. `consumption_kwh` is a number only when the figure is proven. */
export function consumptionFrame(
  rows: ReadonlyArray<{ anchors: DeviceAnchors; result: DeviceConsumption }>,
  meta: Omit<ConsumptionFrameMeta, 'meterproof'>,
  refId: string,
  executed: string,
): DataFrame {
  const F = CONSUMPTION_FIELDS;
  const r = rows.map((x) => x.result);
  const col = <T>(f: (c: DeviceConsumption) => T | undefined) => r.map((c) => f(c) ?? null);
  const custom: ConsumptionFrameMeta = { meterproof: CONSUMPTION_FRAME_KIND, ...meta };
  return {
    refId,
    name: 'Verified consumption',
    length: rows.length,
    meta: { custom, executedQueryString: executed },
    fields: [
      field(
        F.device,
        FieldType.string,
        col((c) => c.device),
        { displayName: 'Device' },
      ),
      field(
        F.status,
        FieldType.string,
        col((c) => c.status),
        { displayName: 'Proof' },
      ),
      field(
        F.kwh,
        FieldType.number,
        col((c) => (c.status === 'proven' ? c.kwh : undefined)),
        { displayName: 'Proven consumption', unit: 'kwatth' },
      ),
      field(
        F.kwhText,
        FieldType.string,
        col((c) => c.kwhText),
        { displayName: 'Proven consumption (exact)' },
      ),
      field(
        F.gaps,
        FieldType.number,
        col((c) => c.gaps),
        { displayName: 'Gaps' },
      ),
      field(
        F.reason,
        FieldType.string,
        col((c) => c.reason),
        { displayName: 'Why not proven' },
      ),
      field(
        F.startSignedTime,
        FieldType.string,
        col((c) => c.start?.time19),
        { displayName: 'Start: signed Time' },
      ),
      field(
        F.startSignedTotal,
        FieldType.string,
        col((c) => c.start?.totalText),
        { displayName: 'Start: signed Total' },
      ),
      field(
        F.startStored,
        FieldType.time,
        col((c) => c.start?.storedMs),
        { displayName: 'Start: stored' },
      ),
      field(
        F.endSignedTime,
        FieldType.string,
        col((c) => c.end?.time19),
        { displayName: 'End: signed Time' },
      ),
      field(
        F.endSignedTotal,
        FieldType.string,
        col((c) => c.end?.totalText),
        { displayName: 'End: signed Total' },
      ),
      field(
        F.endStored,
        FieldType.time,
        col((c) => c.end?.storedMs),
        { displayName: 'End: stored' },
      ),
      field(
        F.anchors,
        FieldType.other,
        rows.map((x) => x.anchors),
        { custom: { hidden: true } },
      ),
    ],
  };
}

export const isConsumptionFrame = (f: DataFrame): boolean =>
  (f.meta?.custom as { meterproof?: string } | undefined)?.meterproof === CONSUMPTION_FRAME_KIND;

/** The devices' anchors and the frame's meta back from a consumption frame (the panel's side). */
export function readConsumptionFrame(f: DataFrame): { meta: ConsumptionFrameMeta; anchors: DeviceAnchors[] } | undefined {
  if (!isConsumptionFrame(f)) return undefined;
  const values = f.fields.find((x) => x.name === CONSUMPTION_FIELDS.anchors)?.values;
  const anchors = (values ? [...values] : []).filter((a): a is DeviceAnchors => typeof (a as DeviceAnchors | null)?.device === 'string');
  return { meta: f.meta!.custom as ConsumptionFrameMeta, anchors };
}

/** The data source's side: the statements' results to the frame, each device proven with `keys`. */
export async function runConsumption(
  results: readonly InfluxResult[],
  opts: { totalField: string; range: ConsumptionRange; keys: KeyFile | undefined; database: string; measurement: string },
  refId: string,
  executed: string,
): Promise<DataFrame> {
  const rows = [];
  for (const anchors of readAnchors(results, opts.totalField))
    rows.push({ anchors, result: await proveConsumption(anchors, opts.range, opts.keys) });
  return consumptionFrame(
    rows,
    { fromMs: opts.range.fromMs, toMs: opts.range.toMs, database: opts.database, measurement: opts.measurement },
    refId,
    executed,
  );
}

let lastKeys: { text: string; file: KeyFile | undefined } | undefined;
/** The data source's public-key list, parsed once per text; undefined when there is none or it is not valid. */
export function publicKeyFile(text: string | undefined): KeyFile | undefined {
  const t = text?.trim();
  if (!t) return undefined;
  if (lastKeys?.text !== t) {
    let file: KeyFile | undefined;
    try {
      file = parseKeyFile(t);
    } catch (e) {
      if (!(e instanceof KeyFileError)) throw e;
    }
    lastKeys = { text: t, file };
  }
  return lastKeys.file;
}

/** The "Verified consumption" query: the four statements in one request, then each device proven here. */
export async function consumptionQuery(
  client: Pick<InfluxClient, 'run'>,
  scope: Scope,
  source: { database: string; measurement: string; totalField: string; publicKeys?: string },
  refId: string,
  requestId?: string,
): Promise<DataFrame> {
  const statements = consumptionStatements(scope);
  const results = await client.run(statements, requestId);
  const range = { fromMs: scope.fromMs, toMs: scope.toMs };
  const opts = { ...source, range, keys: publicKeyFile(source.publicKeys) };
  return runConsumption(results, opts, refId, statements.join(';\n'));
}
