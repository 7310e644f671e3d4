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
import type { InfluxResult } from '../grafana-plugin/datasource/influxAnswers';
import { HOUR_MS, TRUST_COUNT_STATEMENTS, trustStatements, type Scope } from '../grafana-plugin/datasource/statements';
import { HOURLY_COUNTS_MIN_MS, trustAnswers } from '../grafana-plugin/datasource/trust';
import { startInfluxDB, type InfluxServer } from '../test/harness/influxdb';

const DB = 'telegraf';
const M = 'mqtt_consumer';
const HOURLY = 'meterproof_readings_1h';
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

/** One batch; a write that timed out on a busy machine is sent again (the same points overwrite themselves). */
async function write(influx: InfluxServer, body: string, attempts = 3): Promise<void> {
  const r = await fetch(`${influx.url}/write?db=${DB}&precision=s`, { method: 'POST', body });
  if (r.status === 204) return;
  const text = await r.text();
  if (attempts > 1 && /timeout/.test(text)) return write(influx, body, attempts - 1);
  throw new Error(`InfluxDB write ${r.status}: ${text}`);
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
    const p = write(influx, body);
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

async function timeQuery(influx: InfluxServer, q: string): Promise<Timing & { result: InfluxResult }> {
  const cpu = cpuMs(influx.pid);
  const t = performance.now();
  const res = await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q, db: DB, epoch: 'ms' }) });
  const body = (await res.json()) as { results?: InfluxResult[]; error?: string };
  const wallMs = performance.now() - t;
  const err = body.error ?? body.results?.find((r) => r.error)?.error;
  if (!res.ok || err) throw new Error(`InfluxDB: ${err ?? res.status} in ${q}`);
  return { wallMs, cpuMs: cpuMs(influx.pid) - cpu, result: body.results?.[0] ?? {} };
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

/** The data source's Trust status requests (trust.ts), one at a time: each request's InfluxDB time. */
async function trustRequests(influx: InfluxServer, scope: Scope, hourly?: string): Promise<Timing[]> {
  const timings: Timing[] = [];
  await trustAnswers(
    async (statements) => {
      const out: InfluxResult[] = [];
      for (const q of statements) {
        const { result, ...t } = await timeQuery(influx, q);
        timings.push(t);
        out.push(result);
      }
      return out;
    },
    scope,
    hourly,
  );
  return timings;
}

/** The same requests as the data source sends them (those of one step at once): what a viewer waits. */
async function trustWait(influx: InfluxServer, scope: Scope, hourly?: string): Promise<number> {
  const started = performance.now();
  await trustAnswers((statements) => Promise.all(statements.map(async (q) => (await timeQuery(influx, q)).result)), scope, hourly);
  return performance.now() - started;
}

/**
 * The flow with hourly counts (docs/grafana.md "Performance"): the continuous query's SELECT … INTO run
 * once over the loaded hours (a backfill), then the flow's requests timed as above.
 */
async function withHourlyCounts(influx: InfluxServer, scope: Scope): Promise<string[]> {
  const started = performance.now();
  const select =
    `SELECT count("ENERGY_Total") AS "count_ENERGY_Total", count("ENERGY_Total_0") AS "count_ENERGY_Total_0" INTO "${HOURLY}" ` +
    `FROM "${M}" WHERE "verified"::tag = 'true' AND time >= ${scope.fromMs - HOUR_MS}ms AND time <= ${scope.toMs}ms ` +
    `GROUP BY time(1h), "device"::tag, "verified"::tag, "verify_status"::tag`;
  await influx.query(select, DB);
  const backfill = performance.now() - started;
  await trustRequests(influx, scope, HOURLY); // warm
  const rounds: Timing[][] = [];
  const waits: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    rounds.push(await trustRequests(influx, scope, HOURLY));
    waits.push(await trustWait(influx, scope, HOURLY));
  }
  const trust = rounds[0]!.map((_, i) => median(rounds.map((ts) => ts[i]?.wallMs ?? 0)));
  return [
    `with hourly counts (backfilled in ${f(backfill / 1000, 1)} s), ${trust.length} requests ${f(trust.reduce((a, b) => a + b, 0))} ms (${trust.map((x) => f(x)).join(' + ')})`,
    `  as the data source sends them (what a viewer waits) ${f(median(waits))} ms`,
  ];
}

const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const sum = (ts: readonly Timing[], k: keyof Timing) => ts.reduce((a, t) => a + t[k], 0);

async function influxSize(size: Size): Promise<string[]> {
  const influx = await startInfluxDB();
  try {
    await influx.query(`CREATE DATABASE "${DB}"`);
    const loaded = await load(influx, size);
    const scope: Scope = { measurement: M, totalField: 'ENERGY_Total', fromMs: loaded.fromMs, toMs: loaded.toMs, filters: [] };
    const where = `time >= ${loaded.fromMs}ms AND time <= ${loaded.toMs}ms`;
    // The full row statements for every device: what the window spares (the worst case: every device missed).
    const full = trustStatements(scope).filter((_, i) => !TRUST_COUNT_STATEMENTS.includes(i));
    const yardstick = `SELECT last("ENERGY_Total") FROM "${M}" WHERE ${where} GROUP BY "device"::tag`;
    const t = await measure(influx, Object.fromEntries(full.map((q, i) => [`full${i}`, q])));
    await trustRequests(influx, scope); // warm
    // The yardstick in the same rounds as the flow, so that a compaction InfluxDB runs meanwhile weighs on both.
    const rounds: Timing[][] = [];
    const bases: Timing[] = [];
    const waits: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      bases.push(await timeQuery(influx, yardstick));
      rounds.push(await trustRequests(influx, scope));
      waits.push(await trustWait(influx, scope));
    }
    // Per request, the median over rounds (every round sends the same statements: the fleet is live).
    const trust = rounds[0]!.map((_, i) => ({
      wallMs: median(rounds.map((ts) => ts[i]?.wallMs ?? 0)),
      cpuMs: rounds.reduce((a, ts) => a + (ts[i]?.cpuMs ?? 0), 0) / ROUNDS,
    }));
    const base = { wallMs: median(bases.map((b) => b.wallMs)), cpuMs: sum(bases, 'cpuMs') / ROUNDS };
    const fullT = full.map((_, i) => t[`full${i}`]!);
    const rows = size.devices * size.readings;
    const hourly = loaded.toMs - loaded.fromMs > HOURLY_COUNTS_MIN_MS ? await withHourlyCounts(influx, scope) : [];
    return [
      `${size.label}: ${f(rows)} rows loaded in ${f(loaded.seconds)} s`,
      `    per-device last() (the yardstick)      ${f(base.wallMs)} ms, ${f(base.cpuMs)} ms CPU`,
      `    Trust status, ${trust.length} requests          ${f(sum(trust, 'wallMs'))} ms (${trust.map((x) => f(x.wallMs)).join(' + ')}) = ` +
        `${f(sum(trust, 'wallMs') / base.wallMs, 1)}× ; CPU ${f(sum(trust, 'cpuMs'))} ms = ${f(sum(trust, 'cpuMs') / base.cpuMs, 1)}×`,
      `      as the data source sends them (what a viewer waits) ${f(median(waits))} ms`,
      `    the full row statements for every device (no window) ${f(sum(fullT, 'wallMs'))} ms (${fullT.map((x) => f(x.wallMs)).join(' + ')}) = ` +
        `${f(sum(fullT, 'wallMs') / base.wallMs, 1)}×`,
      ...hourly.map((l) => `    ${l}`),
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
  const bare = /10,000 bare WebCrypto verifications on the page's thread: (\{.*\})/.exec(out);
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
    `re-check of 10,000 rows in Chromium (WebCrypto in workers), keys new to the page   ${pass(cold)}`,
    `    the same after a refresh (keys admitted already)          ${pass(warm)}`,
    `    parsing the key list (its keys are admitted as rows need them) ${f(cold.keyParseMs)} ms`,
  ];
  if (bare) {
    // The baseline, in the same browser minutes later: the bare verifications alone, on the page's thread.
    const { bareMs } = JSON.parse(bare[1]!) as { bareMs: number };
    lines.push(
      `    baseline: 10,000 bare import + verify on the page's thread ${f(bareMs)} ms; ` +
        `re-check ÷ baseline: keys new ${f(cold.recheckMs / bareMs, 2)}×, after a refresh ${f(warm.recheckMs / bareMs, 2)}×`,
    );
  }
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

/** `only`: one InfluxDB size and no Chromium, for iterating on the statements (`--grafana-influx 200k|30d`). */
export async function grafanaBench(only?: '200k' | '30d'): Promise<void> {
  const devices30d = Number(process.env.METERPROOF_BENCH_30D_DEVICES ?? 2000);
  const sizes: Array<Size & { key: '200k' | '30d' }> = [
    { key: '200k', label: '2,000 devices × 100 readings, 30 s apart', devices: 2000, readings: 100, periodS: 30 },
    { key: '30d', label: `30 days at 300 s, ${f(devices30d)} devices × 8,640 readings`, devices: devices30d, readings: 8640, periodS: 300 },
  ];
  console.log('\nGrafana: Trust status on InfluxDB 1.6, re-check in Chromium');
  // Smallest first: the 30-day load takes the longest, and the figures before it are then already out.
  if (!only) for (const l of recheckInChromium()) console.log(l);
  for (const size of sizes.filter((s) => !only || s.key === only)) for (const l of await influxSize(size)) console.log(l);
}
