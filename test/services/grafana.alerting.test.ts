/**
 * The provisioned alert rules (provisioning/alerting/meterproof.yaml) against a real InfluxDB 1.6. Each
 * rule's InfluxQL is sent as Grafana's InfluxDB data source sends it (`$timeFilter` replaced by the rule's
 * relative time range as `time >= <from>ms and time <= <to>ms`), and the answer is evaluated as Grafana's
 * alerting evaluates it: one frame per series and value column, labelled with the series' tags; the rule's
 * `reduce` and `threshold` expressions in order; no series at all is NoData, which takes the rule's
 * noDataState. Each rule has a scenario that must fire and one that must not; the last block checks that
 * the scenarios tell wrong rules (a flipped threshold, an untyped tag, a short look-back…) apart.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { statsMetric } from '../../processor/stats';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';

// ---- the rules as provisioned ----

interface RuleQuery {
  refId: string;
  datasourceUid: string;
  relativeTimeRange?: { from: number; to: number };
  model: Record<string, unknown>;
}
interface Rule {
  uid: string;
  title: string;
  condition: string;
  data: RuleQuery[];
  noDataState: 'NoData' | 'Alerting' | 'OK';
  execErrState: string;
  for: string;
}

const FILE = parse(readFileSync('provisioning/alerting/meterproof.yaml', 'utf8')) as { groups: Array<{ rules: Rule[] }> };
const RULES = new Map(FILE.groups.flatMap((g) => g.rules).map((r) => [r.uid, r]));
const rule = (uid: string): Rule => structuredClone(RULES.get(uid)!);
const FAILED = 'meterproof-failed-verification';
const SILENT = 'meterproof-device-silent';
const PROCESSOR = 'meterproof-processor-silent';

// ---- a small evaluator of Grafana alert rules: InfluxQL query, reduce, threshold ----

type Labels = Record<string, string>;
interface Series {
  labels: Labels;
  values: Array<number | null>;
}
type Numbers = Array<{ labels: Labels; value: number }>;
interface Evaluation {
  /** The label sets of the instances that are firing (NoData with noDataState Alerting: one, unlabelled). */
  firing: Labels[];
  /** The label sets of the instances that are normal. */
  normal: Labels[];
  noData: boolean;
}

/** `$timeFilter` as Grafana's InfluxQL backend renders it for a rule's relative time range (seconds back). */
function grafanaTimeFilter(range: { from: number; to: number }, nowMs: number): string {
  return `time >= ${nowMs - range.from * 1000}ms and time <= ${nowMs - range.to * 1000}ms`;
}

/** Grafana's InfluxQL response to frames: one per series and value column, labelled with the tags. */
async function runQuery(influx: InfluxServer, db: string, q: RuleQuery, nowMs: number): Promise<Series[]> {
  expect(q.model.rawQuery).toBe(true);
  const text = String(q.model.query).replaceAll('$timeFilter', grafanaTimeFilter(q.relativeTimeRange!, nowMs));
  const results = await influx.query(text, db);
  const frames: Series[] = [];
  for (const s of results.flatMap((r) => r.series ?? [])) {
    for (let c = 1; c < s.columns.length; c++)
      frames.push({ labels: s.tags ?? {}, values: s.values.map((row) => row[c] as number | null) });
  }
  // Grafana's alerting refuses frames it cannot tell apart by labels (several value columns of one series).
  const keys = frames.map((f) => JSON.stringify(Object.entries(f.labels).sort()));
  expect(new Set(keys).size, `duplicate label sets: ${keys.join(' ')}`).toBe(keys.length);
  return frames;
}

/** Grafana's `reduce` expression (last, max, min, sum, mean, count), with its `mode` for null/NaN. */
function reduce(series: Series[], model: Record<string, unknown>): Numbers {
  const mode = ((model.settings as { mode?: string } | undefined)?.mode ?? '') as '' | 'dropNN' | 'replaceNN';
  const replaceWith = (model.settings as { replaceWithValue?: number } | undefined)?.replaceWithValue ?? 0;
  return series.map(({ labels, values }) => {
    let v = values.map((x) => (x === null ? NaN : x));
    if (mode === 'dropNN') v = v.filter((x) => Number.isFinite(x));
    if (mode === 'replaceNN') v = v.map((x) => (Number.isFinite(x) ? x : replaceWith));
    const sum = v.reduce((a, b) => a + b, 0);
    const value = (
      {
        last: () => (v.length ? v[v.length - 1]! : NaN),
        max: () => (v.length ? Math.max(...v) : NaN),
        min: () => (v.length ? Math.min(...v) : NaN),
        sum: () => sum,
        mean: () => (v.length ? sum / v.length : NaN),
        count: () => v.length,
      } as Record<string, () => number>
    )[String(model.reducer)];
    if (!value) throw new Error(`reducer ${String(model.reducer)} is not modelled here`);
    return { labels, value: value() };
  });
}

/** Grafana's `threshold` expression: 1 where the value is beyond the threshold, else 0 (NaN: 0). */
function threshold(input: Numbers, model: Record<string, unknown>): Numbers {
  const [cond, ...more] = model.conditions as Array<{ evaluator: { type: string; params: number[] } }>;
  expect(more).toEqual([]);
  const { type, params } = cond!.evaluator;
  const test = { gt: (v: number) => v > params[0]!, lt: (v: number) => v < params[0]! }[type];
  if (!test) throw new Error(`threshold ${type} is not modelled here`);
  return input.map(({ labels, value }) => ({ labels, value: test(value) ? 1 : 0 }));
}

async function evaluate(influx: InfluxServer, db: string, r: Rule, nowMs = Date.now()): Promise<Evaluation> {
  const results = new Map<string, Series[] | Numbers>();
  let noData = false;
  for (const q of r.data) {
    if (q.datasourceUid !== '__expr__') {
      const frames = await runQuery(influx, db, q, nowMs);
      if (frames.length === 0) noData = true;
      results.set(q.refId, frames);
      continue;
    }
    const input = results.get(String(q.model.expression));
    if (!input) throw new Error(`${q.refId} reads ${String(q.model.expression)}, which comes later or not at all`);
    if (q.model.type === 'reduce') results.set(q.refId, reduce(input as Series[], q.model));
    else if (q.model.type === 'threshold') results.set(q.refId, threshold(input as Numbers, q.model));
    else throw new Error(`expression type ${String(q.model.type)} is not modelled here`);
  }
  const condition = results.get(r.condition) as Numbers;
  if (noData || condition.length === 0) {
    const firing = r.noDataState === 'Alerting' ? [{}] : [];
    return { firing, normal: r.noDataState === 'OK' ? [{}] : [], noData: true };
  }
  return {
    firing: condition.filter((n) => n.value !== 0 && !Number.isNaN(n.value)).map((n) => n.labels),
    normal: condition.filter((n) => n.value === 0 || Number.isNaN(n.value)).map((n) => n.labels),
    noData: false,
  };
}

// ---- rows as the processor writes them ----

const MIN = 60_000;
const SIG = 'ab'.repeat(64);
const ns = (ms: number) => `${Math.round(ms)}000000`;
const ok = (device: string, ms: number) =>
  `mqtt_consumer,device=${device},topic=tele/${device}/SENSOR,verified=true,verify_status=ok ` +
  `ENERGY_Total=1.5,Time="2025-06-15T15:06:40",Signature="${SIG}",signed_message="2025-06-15T15:06:40,1.500" ${ns(ms)}`;
const failed = (device: string, status: string, ms: number, fields = `ENERGY_Total=9.5,Time="2025-06-15T15:06:40",Signature="${SIG}"`) =>
  `mqtt_consumer,device=${device},topic=tele/${device}/SENSOR,verified=false,verify_status=${status} ${fields} ${ns(ms)}`;
const stats = (ms: number) =>
  statsMetric(
    {
      counts: { ok: 5, unsigned: 0, malformed: 0, unknown_device: 0, bad_signature: 0, replay: 0, rollback: 0 },
      invalidLines: 0,
      devices: 5,
      devicesCapped: false,
    },
    0,
    ms,
  ).trim();

// ---- scenarios: one database each ----

const T = Date.now();
const SCENARIOS: Record<string, string[]> = {
  // (a) fires: a forged reading, and an unsigned one that carries neither Signature nor Time.
  a_fires: [
    ok('kitchen', T - 2 * MIN),
    failed('kitchen', 'bad_signature', T - 2 * MIN),
    failed('kitchen', 'bad_signature', T - 1 * MIN),
    failed('garage', 'unsigned', T - 3 * MIN, 'ENERGY_Total=99999'),
    ok('office', T - 1 * MIN),
  ],
  // (a) quiet: only verified readings lately; a failure 15 minutes ago (outside the 10 minutes); and a
  // verified row that also carries a *field* named verified, as one mis-sent payload can create.
  a_quiet: [
    ok('kitchen', T - 2 * MIN),
    failed('kitchen', 'bad_signature', T - 15 * MIN),
    `mqtt_consumer,device=office,verified=true,verify_status=ok verified="false",ENERGY_Total=1.5,Time="2025-06-15T15:06:40",Signature="${SIG}",signed_message="x" ${ns(T - 1 * MIN)}`,
  ],
  // (b) fires: `cellar` verified 2 hours ago and nothing since but a failing reading; `attic` has been
  // silent for 18 minutes. `kitchen` sent 3 minutes ago. `gone` has been silent for 25 hours: out of the range.
  b_fires: [
    ok('cellar', T - 120 * MIN),
    failed('cellar', 'bad_signature', T - 1 * MIN),
    ok('attic', T - 40 * MIN),
    ok('attic', T - 18 * MIN),
    ok('kitchen', T - 3 * MIN),
    ok('gone', T - 25 * 60 * MIN),
  ],
  // (b) quiet: every device verified within 15 minutes, one of them 12 minutes ago (a TelePeriod-like gap
  // across any 15-minute bucket start), one only a failing reading before.
  b_quiet: [
    ok('kitchen', T - 3 * MIN),
    ok('attic', T - 12 * MIN),
    ok('attic', T - 30 * MIN),
    failed('office', 'unsigned', T - 5 * MIN, 'ENERGY_Total=1'),
    ok('office', T - 2 * MIN),
  ],
  // (c) fires: the processor's last reports are 6 and 10 minutes old; and a database it never reported to.
  c_fires: [stats(T - 10 * MIN), stats(T - 6 * MIN), ok('kitchen', T - 1 * MIN)],
  c_never: [ok('kitchen', T - 1 * MIN)],
  // (c) quiet: a report a minute ago.
  c_quiet: [stats(T - 6 * MIN), stats(T - 1 * MIN)],
};

let influx: InfluxServer;
beforeAll(async () => {
  influx = await startInfluxDB();
  for (const [db, lines] of Object.entries(SCENARIOS)) {
    await influx.query(`CREATE DATABASE "${db}"`);
    await influx.write(db, lines.join('\n'));
  }
});
afterAll(async () => {
  await influx?.stop();
});

const byDevice = (e: Evaluation) => e.firing.map((l) => [l.device, l.verify_status].filter(Boolean).join(' ')).sort();

describe('the provisioned alert rules, evaluated on a real InfluxDB', () => {
  it('every rule is modelled here', () => {
    expect([...RULES.keys()].sort()).toEqual([SILENT, FAILED, PROCESSOR].sort());
  });

  it('(a) fires per device and status for failing readings, whatever fields they carry', async () => {
    const e = await evaluate(influx, 'a_fires', rule(FAILED));
    expect(byDevice(e)).toEqual(['garage unsigned', 'kitchen bad_signature']);
    expect(e.normal).toEqual([]);
  });

  it('(a) stays quiet for verified readings, an old failure and a field named like the tag', async () => {
    const e = await evaluate(influx, 'a_quiet', rule(FAILED));
    expect(e).toMatchObject({ firing: [], noData: true });
  });

  it('(b) fires for a device silent for 15 minutes that verified within 24 hours, and not for one gone longer', async () => {
    const e = await evaluate(influx, 'b_fires', rule(SILENT));
    expect(byDevice(e)).toEqual(['attic', 'cellar']);
    expect(e.normal).toEqual([{ device: 'kitchen' }]);
  });

  it('(b) stays quiet while every device verified within 15 minutes', async () => {
    const e = await evaluate(influx, 'b_quiet', rule(SILENT));
    expect(e.firing).toEqual([]);
    expect(e.normal.map((l) => l.device).sort()).toEqual(['attic', 'kitchen', 'office']);
  });

  it('(c) fires when the processor has not reported for 5 minutes, or never did', async () => {
    for (const db of ['c_fires', 'c_never'])
      expect(await evaluate(influx, db, rule(PROCESSOR))).toEqual({ firing: [{}], normal: [], noData: true });
  });

  it('(c) stays quiet while the processor reports', async () => {
    expect(await evaluate(influx, 'c_quiet', rule(PROCESSOR))).toEqual({ firing: [], normal: [{}], noData: false });
  });
});

describe('the scenarios tell wrong rules apart', () => {
  /** Does the rule fire exactly in the scenarios named? */
  async function firesIn(r: Rule, fires: string[], quiet: string[]): Promise<boolean> {
    for (const db of fires) if ((await evaluate(influx, db, r)).firing.length === 0) return false;
    for (const db of quiet) if ((await evaluate(influx, db, r)).firing.length > 0) return false;
    return true;
  }
  const query = (r: Rule) => r.data[0]!.model;
  const cond = (r: Rule) =>
    (r.data.find((q) => q.refId === r.condition)!.model.conditions as Array<{ evaluator: { type: string; params: number[] } }>)[0]!
      .evaluator;

  it('(a): the shipped rule passes; a flipped threshold, an untyped tag, count("Signature") or a 1-minute range do not', async () => {
    expect(await firesIn(rule(FAILED), ['a_fires'], ['a_quiet'])).toBe(true);
    const flipped = rule(FAILED);
    cond(flipped).type = 'lt';
    const untyped = rule(FAILED);
    query(untyped).query = String(query(untyped).query).replace(`"verified"::tag = 'false'`, `"verified" = 'false'`);
    const bySignature = rule(FAILED);
    query(bySignature).query =
      `SELECT count("Signature") FROM "mqtt_consumer" WHERE "verified"::tag = 'false' AND $timeFilter GROUP BY "device"::tag, "verify_status"::tag`;
    const short = rule(FAILED);
    short.data[0]!.relativeTimeRange = { from: 60, to: 0 };
    for (const wrong of [flipped, untyped, short]) expect(await firesIn(wrong, ['a_fires'], ['a_quiet'])).toBe(false);
    // count("Signature") still fires for kitchen, but misses the unsigned garage.
    expect(byDevice(await evaluate(influx, 'a_fires', bySignature))).toEqual(['kitchen bad_signature']);
  });

  it('(b): without the 24-hour rows a silent device vanishes instead of firing; gt in place of lt fires for the healthy', async () => {
    expect(await firesIn(rule(SILENT), ['b_fires'], ['b_quiet'])).toBe(true);
    const recentOnly = rule(SILENT);
    query(recentOnly).query =
      `SELECT count("signed_message") FROM "mqtt_consumer" WHERE "verified"::tag = 'true' AND time >= now() - 15m GROUP BY "device"::tag`;
    const flipped = rule(SILENT);
    cond(flipped).type = 'gt';
    for (const wrong of [recentOnly, flipped]) expect(await firesIn(wrong, ['b_fires'], ['b_quiet'])).toBe(false);
  });

  it('(c): with noDataState OK, or a 1-hour range, a stopped processor goes unnoticed', async () => {
    expect(await firesIn(rule(PROCESSOR), ['c_fires', 'c_never'], ['c_quiet'])).toBe(true);
    const okOnNoData = rule(PROCESSOR);
    okOnNoData.noDataState = 'OK';
    const hour = rule(PROCESSOR);
    hour.data[0]!.relativeTimeRange = { from: 3600, to: 0 };
    for (const wrong of [okOnNoData, hour]) expect(await firesIn(wrong, ['c_fires', 'c_never'], ['c_quiet'])).toBe(false);
  });
});
