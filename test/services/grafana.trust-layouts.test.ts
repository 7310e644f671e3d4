// @vitest-environment jsdom
/**
 * The two shapes of the Trust status statements (statements.ts: one selector with the row's other
 * fields for short ranges, one selector per field for long ones) give the same frame on a real InfluxDB
 * 1.6, over rows made to catch a fail-open join: a verified row without its proof at the latest time, a
 * tie, failing rows without Time or without a Total, a three-phase meter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/fixtures/grafana/jsdomSetup';
import { trustFrame } from '../../grafana-plugin/datasource/frames';
import { LONG_RANGE_MS, trustStatements, type Scope } from '../../grafana-plugin/datasource/statements';
import { startInfluxDB, type InfluxResult, type InfluxServer } from '../harness/influxdb';

const T = Date.now() - 60_000;
const DAY = 86_400_000;
const SIG = 'ab'.repeat(64);

/** A processed row; `fields` as line protocol, `time19` the signed time. */
function row(device: string, status: string, ms: number, fields: string): string {
  return `mqtt_consumer,device=${device},host=h,verified=${status === 'ok'},verify_status=${status} ${fields} ${ms}000000`;
}
const time19 = (ms: number) => new Date(ms).toISOString().slice(0, 19);
const ok = (device: string, ms: number, total = '1.500') =>
  row(device, 'ok', ms, `ENERGY_Total=${total},Time="${time19(ms)}",Signature="${SIG}",signed_message="${time19(ms)},${total}"`);
const okThree = (device: string, ms: number) =>
  row(
    device,
    'ok',
    ms,
    `ENERGY_Total_0=1.5,ENERGY_Total_1=2.25,ENERGY_Total_2=3,Time="${time19(ms)}",Signature="${SIG}",signed_message="${time19(ms)},[1.500,2.250,3.000]"`,
  );

let influx: InfluxServer;
beforeAll(async () => {
  influx = await startInfluxDB();
  await influx.query('CREATE DATABASE "layouts"');
  await influx.write(
    'layouts',
    [
      ok('single', T - 2 * DAY),
      ok('single', T),
      okThree('three', T - DAY),
      okThree('three', T),
      ok('fails-latest', T - DAY),
      row('fails-latest', 'bad_signature', T, `ENERGY_Total=9.5,Time="${time19(T)}",Signature="${SIG}"`),
      ok('no-time', T - DAY),
      row('no-time', 'malformed', T, `ENERGY_Total=9.5,Signature="${SIG}"`),
      ok('no-total', T - DAY),
      row('no-total', 'malformed', T, `Time="${time19(T)}",Signature="${SIG}"`),
      ok('proofless', T - DAY),
      // written past the processor: tagged verified, but without signed_message
      row('proofless', 'ok', T, `ENERGY_Total=9.5,Time="${time19(T)}",Signature="${SIG}"`),
      ok('tie', T - DAY),
      ok('tie', T),
      row('tie', 'bad_signature', T, `ENERGY_Total=9.5,Time="${time19(T)}",Signature="${SIG}"`),
      // the last verified row's signature was deleted after the fact: an older one must not stand in
      ok('sigless', T - DAY),
      row('sigless', 'ok', T, `ENERGY_Total=1.5,Time="${time19(T)}",signed_message="${time19(T)},1.500"`),
    ].join('\n'),
  );
});
afterAll(async () => {
  await influx?.stop();
});

const scope: Scope = { measurement: 'mqtt_consumer', totalField: 'ENERGY_Total', fromMs: T - 3 * DAY, toMs: T + 60_000, filters: [] };

async function frameOf(layout: 'short' | 'long') {
  const statements = trustStatements(scope, layout);
  // As the data source asks: one statement per request, times as epoch milliseconds.
  const ask = async (q: string) => {
    const body = new URLSearchParams({ db: 'layouts', q, epoch: 'ms' });
    return ((await (await fetch(`${influx.url}/query`, { method: 'POST', body })).json()) as { results: InfluxResult[] }).results[0]!;
  };
  const frame = trustFrame(await Promise.all(statements.map(ask)), 'ENERGY_Total', 'A', '');
  const col = (name: string) => frame.fields.find((f) => f.name === name)!.values as unknown[];
  return Object.fromEntries(
    (col('device') as string[]).map((d, i) => [
      d,
      Object.fromEntries(frame.fields.filter((f) => f.name !== 'device').map((f) => [f.name, f.values[i]])),
    ]),
  );
}

describe('Trust status over a short and a long range layout', () => {
  it('chooses the layout by the range', () => {
    const edge = { ...scope, fromMs: scope.toMs - LONG_RANGE_MS };
    expect(trustStatements(edge)).toEqual(trustStatements(edge, 'short'));
    expect(trustStatements({ ...edge, fromMs: edge.fromMs - 1 })).toEqual(trustStatements({ ...edge, fromMs: edge.fromMs - 1 }, 'long'));
  });

  it('gives the same frame either way, failing closed on every trap', async () => {
    const [short, long] = await Promise.all([frameOf('short'), frameOf('long')]);
    expect(long).toEqual(short);
    const verdicts = Object.fromEntries(Object.entries(short).map(([d, r]) => [d, r.verdict]));
    expect(verdicts).toEqual({
      'fails-latest': 'bad_signature',
      'no-time': 'malformed',
      'no-total': 'malformed',
      proofless: 'unproven',
      sigless: 'unproven',
      single: 'ok',
      three: 'ok',
      tie: 'bad_signature',
    });
    expect(short.three!.signed_values).toEqual([1.5, 2.25, 3]);
    expect(short.single!.signed_message).toBe(`${time19(T)},1.500`);
    expect(short.single!.readings).toBe(2);
    expect(short['no-time']!.count_malformed).toBe(1); // counted by its Total
    expect(short['no-total']!.count_malformed).toBe(1); // counted by its Time
  });
});
