/**
 * `npm run bench`, Grafana part (docs/performance.md, "Grafana"): the data source's Trust status request
 * against a real InfluxDB 1.6 at fleet scale, beside the cheapest per-device query, and the panel's
 * re-check of 10,000 rows in Chromium.
 *
 * InfluxDB time is measured per request, one request at a time, as the median of several rounds (this
 * machine's speed drifts), together with influxd's CPU time per request (/proc), which a busy machine
 * disturbs less. The Trust status figure is the sum over its requests; the data source sends them all
 * at once, so the wall-clock time a viewer waits is also printed.
 *
 * Sizes: 2,000 devices × 100 readings 30 s apart (200,000 rows), and 30 days at Tasmota's default
 * 300 s period: 2,000 devices × 8,640 readings (17.3 million rows), or fewer devices with
 * METERPROOF_BENCH_30D_DEVICES (loading takes about a minute per million rows here).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { trustStatements, type Scope } from '../grafana-plugin/datasource/statements';
import { startInfluxDB, type InfluxServer } from '../test/harness/influxdb';

const DB = 'telegraf';
const M = 'mqtt_consumer';
const ROUNDS = 5;
/** Writes in flight, each up to this many lines (InfluxDB 1.6 refuses bodies over 25 MB). */
const WRITERS = 2;
const BATCH = 40_000;

interface Size {
  label: string;
  devices: number;
  readings: number;
  periodS: number;
}

/** Every 100th device is a three-phase meter; every 10th device has one bad signature in 50 readings. */
function line(device: number, reading: number, s: number): string {
  const bad = device % 10 === 0 && reading % 50 === 25;
  const status = bad ? 'false,verify_status=bad_signature' : 'true,verify_status=ok';
  const time = new Date(s * 1000).toISOString().slice(0, 19);
  const total = (1000 + device + reading * 0.013).toFixed(3);
  const totals = device % 100 === 7 ? `ENERGY_Total_0=${total},ENERGY_Total_1=${total},ENERGY_Total_2=${total}` : `ENERGY_Total=${total}`;
  const signed = bad ? '' : `,signed_message="${time},${device % 100 === 7 ? `[${total},${total},${total}]` : total}"`;
  return (
    `${M},device=plug-${device},host=telegraf-host,topic=tele/plug-${device}/SENSOR,verified=${status} ` +
    `ENERGY_ApparentPower=50,ENERGY_Current=0.217,ENERGY_Factor=0.84,ENERGY_Power=42,ENERGY_ReactivePower=27,` +
    `ENERGY_Today=0.567,${totals},ENERGY_Voltage=231,ENERGY_Yesterday=1.234,Signature="${'ab'.repeat(64)}",Time="${time}"${signed} ${s}`
  );
}

/** Loads the fleet in time order, as it would have arrived; returns the range it covers, in ms. */
async function load(influx: InfluxServer, size: Size): Promise<{ fromMs: number; toMs: number; seconds: number }> {
  const endS = Math.floor(Date.now() / 1000) - 60;
  const startS = endS - (size.readings - 1) * size.periodS;
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  let lines: string[] = [];
  const flush = async () => {
    const body = lines.join('\n');
    lines = [];
    const p = fetch(`${influx.url}/write?db=${DB}&precision=s`, { method: 'POST', body }).then(async (r) => {
      if (r.status !== 204) throw new Error(`InfluxDB write ${r.status}: ${await r.text()}`);
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= WRITERS) await Promise.race(inFlight);
  };
  for (let r = 0; r < size.readings; r++) {
    for (let d = 0; d < size.devices; d++) {
      lines.push(line(d, r, startS + r * size.periodS + (d % size.periodS)));
      if (lines.length === BATCH) await flush();
    }
  }
  if (lines.length) await flush();
  await Promise.all(inFlight);
  return { fromMs: startS * 1000 - 1000, toMs: (endS + size.periodS) * 1000, seconds: (Date.now() - started) / 1000 };
}

/** influxd's CPU time so far, in ms (utime + stime from /proc/<pid>/stat, 10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Timing {
  wallMs: number;
  cpuMs: number;
}

async function timeQuery(influx: InfluxServer, q: string): Promise<Timing> {
  const cpu = cpuMs(influx.pid);
  const t = performance.now();
  const res = await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q, db: DB, epoch: 'ms' }) });
  const body = (await res.json()) as { results?: Array<{ error?: string }>; error?: string };
  const wallMs = performance.now() - t;
  const err = body.error ?? body.results?.find((r) => r.error)?.error;
  if (!res.ok || err) throw new Error(`InfluxDB: ${err ?? res.status} in ${q}`);
  return { wallMs, cpuMs: cpuMs(influx.pid) - cpu };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Each query alone, ROUNDS rounds; per query the median wall time and the mean CPU time. */
async function measure(influx: InfluxServer, queries: Record<string, string>): Promise<Record<string, Timing>> {
  const runs: Record<string, Timing[]> = {};
  for (const q of Object.values(queries)) await timeQuery(influx, q); // warm the caches once
  for (let r = 0; r < ROUNDS; r++) for (const [k, q] of Object.entries(queries)) (runs[k] ??= []).push(await timeQuery(influx, q));
  return Object.fromEntries(
    Object.entries(runs).map(([k, ts]) => [
      k,
      { wallMs: median(ts.map((t) => t.wallMs)), cpuMs: ts.reduce((a, t) => a + t.cpuMs, 0) / ts.length },
    ]),
  );
}

/** The statements shipped before this change (COUNT(*) and two ORDER BY time DESC LIMIT 1 scans), for comparison. */
function previousStatements(where: string): string[] {
  const by = 'GROUP BY "device"::tag, "verified"::tag, "verify_status"::tag';
  const T = '/^ENERGY_Total(?:_[0-9]+)?$/';
  return [
    `SELECT "verified"::tag, "verify_status"::tag, ${T}, "Time" FROM "${M}" WHERE ${where} ${by} ORDER BY time DESC LIMIT 1`,
    `SELECT ${T}, "signed_message", "Signature" FROM "${M}" WHERE ${where} AND "verified"::tag = 'true' ${by} ORDER BY time DESC LIMIT 1`,
    `SELECT COUNT(*) FROM "${M}" WHERE ${where} ${by}`,
  ];
}

const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function influxSize(size: Size): Promise<string[]> {
  const influx = await startInfluxDB();
  try {
    await influx.query(`CREATE DATABASE "${DB}"`);
    const loaded = await load(influx, size);
    const scope: Scope = { measurement: M, totalField: 'ENERGY_Total', fromMs: loaded.fromMs, toMs: loaded.toMs, filters: [] };
    const trust = trustStatements(scope);
    const where = `time >= ${loaded.fromMs}ms AND time <= ${loaded.toMs}ms`;
    const previous = previousStatements(where);
    const by = 'GROUP BY "device"::tag, "verified"::tag, "verify_status"::tag';
    const verified = `${where} AND "verified"::tag = 'true'`;
    const queries: Record<string, string> = {
      base: `SELECT last("ENERGY_Total") FROM "${M}" WHERE ${where} GROUP BY "device"::tag`,
      ...Object.fromEntries(trust.map((q, i) => [`new${i}`, q])),
      ...Object.fromEntries(previous.map((q, i) => [`old${i}`, q])),
      // Each field by its own selector: InfluxDB reads one point per series for these.
      selTime: `SELECT last("Time") AS "Time" FROM "${M}" WHERE ${where} ${by}`,
      selMsg: `SELECT last("signed_message") AS "signed_message" FROM "${M}" WHERE ${verified} ${by}`,
      selSig: `SELECT last("Signature") AS "Signature" FROM "${M}" WHERE ${verified} ${by}`,
      selTotal: `SELECT last("ENERGY_Total") AS "ENERGY_Total" FROM "${M}" WHERE ${where} ${by}`,
      selPhase0: `SELECT last("ENERGY_Total_0") AS "ENERGY_Total_0" FROM "${M}" WHERE ${verified} ${by}`,
    };
    const t = await measure(influx, queries);
    // All trust requests at once, as the data source sends them: the time a viewer waits; and the same
    // statements in one request, as InfluxDB 1.x and 2.x would take them (3.0–3.6 refuse it).
    const parallel: number[] = [];
    const together: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const started = performance.now();
      await Promise.all(trust.map((q) => timeQuery(influx, q)));
      parallel.push(performance.now() - started);
      together.push((await timeQuery(influx, trust.join('; '))).wallMs);
    }
    const sum = (prefix: string, k: keyof Timing) =>
      Object.entries(t)
        .filter(([name]) => name.startsWith(prefix))
        .reduce((a, [, v]) => a + v[k], 0);
    const base = t.base!;
    // The same counts from hourly counts kept by a continuous query (its statement, run once here as a backfill).
    const hourly = `SELECT count("Time") AS "readings" INTO "meterproof_readings_1h" FROM "${M}" WHERE ${where} GROUP BY time(1h), "device"::tag, "verified"::tag, "verify_status"::tag`;
    const backfill = await timeQuery(influx, hourly);
    const downsampled = await measure(influx, {
      sum: `SELECT sum("readings") AS "count_readings" FROM "meterproof_readings_1h" WHERE ${where} ${by}`,
    });
    const rows = size.devices * size.readings;
    const each = trust.map((_, i) => `${f(t[`new${i}`]!.wallMs)}`).join(' + ');
    return [
      `${size.label}: ${f(rows)} rows loaded in ${f(loaded.seconds)} s`,
      `    per-device last() (the yardstick)      ${f(base.wallMs)} ms, ${f(base.cpuMs)} ms CPU`,
      `    Trust status, ${trust.length} requests          ${f(sum('new', 'wallMs'))} ms (${each}) = ${f(sum('new', 'wallMs') / base.wallMs, 1)}× ; CPU ${f(sum('new', 'cpuMs'))} ms = ${f(sum('new', 'cpuMs') / base.cpuMs, 1)}×`,
      `      of which the count (statement 2)     ${f(t.new2!.wallMs)} ms, ${f(t.new2!.cpuMs)} ms CPU`,
      `      all requests at once (what a viewer waits) ${f(median(parallel))} ms; in one multi-statement request ${f(median(together))} ms`,
      `    before: COUNT(*) + 2 × ORDER BY … LIMIT 1 ${f(sum('old', 'wallMs'))} ms = ${f(sum('old', 'wallMs') / base.wallMs, 1)}× ; CPU ${f(sum('old', 'cpuMs'))} ms = ${f(sum('old', 'cpuMs') / base.cpuMs, 1)}×`,
      `    one field per selector: Time ${f(t.selTime!.wallMs)}, signed_message ${f(t.selMsg!.wallMs)}, Signature ${f(t.selSig!.wallMs)}, ` +
        `ENERGY_Total ${f(t.selTotal!.wallMs)}, ENERGY_Total_0 ${f(t.selPhase0!.wallMs)} ms`,
      `    hourly counts: kept by a continuous query (backfill ${f(backfill.wallMs)} ms), summed in ${f(downsampled.sum!.wallMs)} ms`,
    ];
  } finally {
    await influx.stop();
  }
}

/**
 * The panel's re-check in Chromium, through its test (test/services/grafana.recheck.test.ts), which prints
 * its figures: 10,000 rows with keys new to the page (admitted as their rows are checked), then again
 * after a refresh with the same key list (admitted already), and the noble fallback.
 */
export function recheckInChromium(): string[] {
  const run = spawnSync('npx', ['vitest', 'run', 'test/services/grafana.recheck.test.ts', '-t', 'fleet'], {
    encoding: 'utf8',
    env: process.env,
  });
  const out = `${run.stdout}\n${run.stderr}`;
  const figures = (what: string) => {
    const m = new RegExp(`re-check of 10,000 rows in Chromium, ${what}: (\\{.*\\})`).exec(out);
    return m ? (JSON.parse(m[1]!) as FleetFigures) : undefined;
  };
  const cold = figures('keys new to the page');
  const warm = figures('after a refresh');
  const noble = /noble fallback, 300 rows: (\{.*\})/.exec(out);
  if (!cold || !warm) return [`re-check in Chromium: the test did not report (exit ${run.status}): ${out.slice(-400)}`];
  const pass = (t: FleetFigures) => {
    const own = t.longTasks.filter(([start]) => start >= 0).map(([, d]) => d);
    return (
      `${f(t.recheckMs)} ms, first screen (30 rows) ${f(t.firstScreenMs ?? 0)} ms, ${f(t.admitted)} keys admitted; ` +
      `longest task it started ${own.length ? `${f(Math.max(...own))} ms` : '< 50 ms'}; input delay of clicks meanwhile: ` +
      `median ${f(median(t.inputDelays))} ms, max after the first ${f(Math.max(0, ...t.inputDelays.slice(1)))} ms`
    );
  };
  const lines = [
    `re-check of 10,000 rows in Chromium (WebCrypto), keys new to the page   ${pass(cold)}`,
    `    the same after a refresh (keys admitted already)          ${pass(warm)}`,
    `    parsing the key list (its keys are admitted as rows need them) ${f(cold.keyParseMs)} ms`,
  ];
  if (noble) {
    const n = JSON.parse(noble[1]!) as { recheckMs: number; inputDelays: number[] };
    lines.push(
      `    noble fallback: 300 rows in ${f(n.recheckMs)} ms (${f(n.recheckMs / 300, 1)} ms each, keys included), max input delay ${f(Math.max(0, ...n.inputDelays))} ms`,
    );
  }
  return lines;
}

interface FleetFigures {
  recheckMs: number;
  firstScreenMs?: number;
  admitted: number;
  keyParseMs: number;
  longTasks: Array<[number, number]>;
  inputDelays: number[];
}

export async function grafanaBench(): Promise<void> {
  const devices30d = Number(process.env.METERPROOF_BENCH_30D_DEVICES ?? 2000);
  const sizes: Size[] = [
    { label: '2,000 devices × 100 readings, 30 s apart', devices: 2000, readings: 100, periodS: 30 },
    { label: `30 days at 300 s, ${f(devices30d)} devices × 8,640 readings`, devices: devices30d, readings: 8640, periodS: 300 },
  ];
  console.log('\nGrafana: Trust status on InfluxDB 1.6, re-check in Chromium');
  // Smallest first: the 30-day load takes the longest, and the figures before it are then already out.
  for (const l of recheckInChromium()) console.log(l);
  for (const size of sizes) for (const l of await influxSize(size)) console.log(l);
}
