// @vitest-environment jsdom
/**
 * Trust status with hourly counts (`jsonData.hourlyCounts`, docs/grafana.md "Performance") on a real
 * InfluxDB 1.6: the documented continuous query is accepted; filled by its own SELECT … INTO (a
 * backfill), the frame equals the one counted on raw rows; an hour missing from it only lowers the
 * verified count, and hours not yet written are counted raw. InfluxDB runs continuous queries itself
 * (disabled in the harness), so the backfill stands in for them: the same statement over past hours.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/fixtures/grafana/jsdomSetup';
import { trustFrame } from '../../grafana-plugin/datasource/frames';
import { HOUR_MS, type Scope } from '../../grafana-plugin/datasource/statements';
import { trustAnswers } from '../../grafana-plugin/datasource/trust';
import type { InfluxResult as Answer } from '../../grafana-plugin/datasource/influxAnswers';
import { startInfluxDB, type InfluxResult, type InfluxServer } from '../harness/influxdb';

const DB = 'telegraf';
const HOURLY = 'meterproof_readings_1h';
const T = Date.now() - 60_000;
const DAY = 86_400_000;
const STEP = 20 * 60_000;
const SIG = 'ab'.repeat(64);
const time19 = (ms: number) => new Date(ms).toISOString().slice(0, 19);
const row = (device: string, status: string, ms: number, fields: string) =>
  `mqtt_consumer,device=${device},host=h,verified=${status === 'ok'},verify_status=${status} ${fields},Time="${time19(ms)}",Signature="${SIG}" ${ms}000000`;
const ok = (device: string, ms: number) => row(device, 'ok', ms, `ENERGY_Total=1.5,signed_message="${time19(ms)},1.500"`);
const okThree = (device: string, ms: number) =>
  row(device, 'ok', ms, `ENERGY_Total_0=1.5,ENERGY_Total_1=2.25,ENERGY_Total_2=3,signed_message="${time19(ms)},[1.500,2.250,3.000]"`);
const bad = (device: string, ms: number) => row(device, 'bad_signature', ms, 'ENERGY_Total=9.5');

/** The continuous query docs/grafana.md shows, read from it so that the test follows the docs. */
async function documentedQuery(): Promise<string> {
  const md = await readFile(join(process.cwd(), 'docs/grafana.md'), 'utf8');
  const cq = /CREATE CONTINUOUS QUERY[\s\S]*?\bEND\b/.exec(md)?.[0];
  if (!cq) throw new Error('docs/grafana.md shows no CREATE CONTINUOUS QUERY');
  return cq;
}

let influx: InfluxServer;
const ask = async (q: string): Promise<Answer> => {
  const body = new URLSearchParams({ db: DB, q, epoch: 'ms' });
  const [result] = ((await (await fetch(`${influx.url}/query`, { method: 'POST', body })).json()) as { results: InfluxResult[] }).results;
  if (result?.error) throw new Error(`${result.error}: ${q}`);
  return result!;
};

beforeAll(async () => {
  influx = await startInfluxDB();
  await influx.query(`CREATE DATABASE "${DB}"`);
  const times = Array.from({ length: (5 * DAY) / STEP }, (_, i) => T - i * STEP);
  await influx.write(
    DB,
    times
      .flatMap((ms, i) => [
        ok('single', ms),
        okThree('three', ms),
        i % 5 === 0 ? bad('flaky', ms) : ok('flaky', ms),
        i === 0 ? bad('fails-latest', ms) : ok('fails-latest', ms),
      ])
      .join('\n'),
  );
  // The documented statement, as InfluxDB stores it; then its SELECT … INTO over every hour that ended.
  await ask(await documentedQuery());
  const [cq] = (await ask('SHOW CONTINUOUS QUERIES')).series!.find((s) => s.name === DB)!.values!;
  const select = /BEGIN (SELECT[\s\S]*?) GROUP BY/.exec(String(cq![1]))![1]!;
  const ended = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const groupBy = /GROUP BY [\s\S]*? END$/.exec(String(cq![1]))![0].replace(/ END$/, '');
  await ask(`${select} AND time >= ${T - 6 * DAY}ms AND time < ${ended}ms ${groupBy}`);
}, 60_000);
afterAll(async () => {
  await influx?.stop();
});

const scope: Scope = {
  measurement: 'mqtt_consumer',
  totalField: 'ENERGY_Total',
  fromMs: T - 4.5 * DAY + 123,
  toMs: T + 60_000,
  filters: [],
};

async function frameOf(s: Scope, hourly?: string) {
  const { results, executed } = await trustAnswers((statements) => Promise.all(statements.map(ask)), s, hourly);
  const frame = trustFrame(results, 'ENERGY_Total', 'A', '');
  const col = (name: string) => frame.fields.find((f) => f.name === name)!.values as unknown[];
  const devices = Object.fromEntries(
    (col('device') as string[]).map((d, i) => [
      d,
      Object.fromEntries(frame.fields.filter((f) => f.name !== 'device').map((f) => [f.name, f.values[i]])),
    ]),
  );
  return { devices, executed };
}

const counts = (devices: Record<string, Record<string, unknown>>, key: string) =>
  Object.fromEntries(Object.entries(devices).map(([d, r]) => [d, r[key] ?? 0]));

describe('Trust status with hourly counts', () => {
  it('gives the frame counted on raw rows when the hourly counts are complete', async () => {
    const [raw, hourly] = await Promise.all([frameOf(scope), frameOf(scope, HOURLY)]);
    expect(hourly.executed.some((q) => q.includes(HOURLY))).toBe(true);
    expect(hourly.devices).toEqual(raw.devices);
    expect(raw.devices.three!.count_ok).toBeGreaterThan(300); // the phases counted, once
    expect(raw.devices['fails-latest']!.verdict).toBe('bad_signature');
  });

  it('reads raw rows alone over short ranges, and with other filters', async () => {
    const short = { ...scope, fromMs: scope.toMs - DAY };
    const filtered = { ...scope, filters: [{ key: 'host', operator: '=', value: 'h' }] };
    for (const s of [short, filtered]) {
      const [raw, hourly] = await Promise.all([frameOf(s), frameOf(s, HOURLY)]);
      expect(hourly.executed).toEqual(raw.executed);
      expect(hourly.devices).toEqual(raw.devices);
    }
  });

  it('counts hours not yet written on raw rows, and an hour missing only lowers the verified count', async () => {
    const raw = await frameOf(scope);
    // The continuous query has not run for the last three hours: they are counted raw.
    const ended = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    await ask(`DELETE FROM "${HOURLY}" WHERE time >= ${ended - 3 * HOUR_MS}ms`);
    expect((await frameOf(scope, HOURLY)).devices).toEqual(raw.devices);
    // It missed an hour in the middle: fewer verified readings, never more; the failures all counted.
    await ask(`DELETE FROM "${HOURLY}" WHERE time >= ${ended - 2 * DAY}ms AND time < ${ended - 2 * DAY + HOUR_MS}ms`);
    const missing = (await frameOf(scope, HOURLY)).devices;
    for (const d of Object.keys(raw.devices)) {
      const verified = raw.devices[d]!.count_ok as number; // three readings an hour, some of them failing
      expect(missing[d]!.count_ok).toBeLessThan(verified);
      expect(missing[d]!.count_ok).toBeGreaterThanOrEqual(verified - 3);
      expect(missing[d]!.verdict).toBe(raw.devices[d]!.verdict);
    }
    expect(counts(missing, 'count_bad_signature')).toEqual(counts(raw.devices, 'count_bad_signature'));
  });
});
