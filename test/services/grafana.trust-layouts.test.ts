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
import { LONG_RANGE_MS, phaseStatements, trustStatements, type Scope } from '../../grafana-plugin/datasource/statements';
import { trustAnswers } from '../../grafana-plugin/datasource/trust';
import type { InfluxResult as Answer } from '../../grafana-plugin/datasource/influxAnswers';
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

/** Each device's verdict in a frame as frameOf gives it. */
const verdictsOf = (frame: Record<string, Record<string, unknown>>) =>
  Object.fromEntries(Object.entries(frame).map(([d, r]) => [d, r.verdict]));

/** The verdicts of the devices every layout holds: the traps fail closed, the genuine meters are ok. */
const TRAP_VERDICTS = {
  'fails-latest': 'bad_signature',
  'no-time': 'malformed',
  'no-total': 'malformed',
  proofless: 'unproven',
  sigless: 'unproven',
  single: 'ok',
  three: 'ok',
  tie: 'bad_signature',
};

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
    expect(verdictsOf(short)).toEqual(TRAP_VERDICTS);
    expect(short.three!.signed_values).toEqual([1.5, 2.25, 3]);
    expect(short.single!.signed_message).toBe(`${time19(T)},1.500`);
    expect(short.single!.readings).toBe(2);
    expect(short['no-time']!.count_malformed).toBe(1); // counted by its Total
    expect(short['no-total']!.count_malformed).toBe(1); // counted by its Time
  });
});

/**
 * The data source's flow (trust.ts): the counts, a window of raw rows at the end of the range, and the
 * full row statements for the devices it misses. Over a live fleet with the same traps at its latest
 * time, and devices whose latest rows, or latest verified rows, are older than the window.
 */
describe('Trust status from the window, and the full statements for the devices it misses', () => {
  const MINUTE = 60_000;
  const live = (device: string, last: (ms: number) => string, each = (ms: number) => ok(device, ms)) =>
    Array.from({ length: 120 }, (_, i) => (i === 0 ? last(T) : each(T - i * MINUTE)));
  const win: Scope = { ...scope };

  beforeAll(async () => {
    await influx.query('CREATE DATABASE "window"');
    await influx.write(
      'window',
      [
        ...live('single', (ms) => ok('single', ms)),
        ...live(
          'three',
          (ms) => okThree('three', ms),
          (ms) => okThree('three', ms),
        ),
        ...live('fails-latest', (ms) =>
          row('fails-latest', 'bad_signature', ms, `ENERGY_Total=9.5,Time="${time19(ms)}",Signature="${SIG}"`),
        ),
        ...live('no-time', (ms) => row('no-time', 'malformed', ms, `ENERGY_Total=9.5,Signature="${SIG}"`)),
        ...live('no-total', (ms) => row('no-total', 'malformed', ms, `Time="${time19(ms)}",Signature="${SIG}"`)),
        ...live('proofless', (ms) => row('proofless', 'ok', ms, `ENERGY_Total=9.5,Time="${time19(ms)}",Signature="${SIG}"`)),
        ...live('sigless', (ms) => row('sigless', 'ok', ms, `ENERGY_Total=1.5,Time="${time19(ms)}",signed_message="${time19(ms)},1.500"`)),
        ...live(
          'tie',
          (ms) => `${ok('tie', ms)}\n${row('tie', 'bad_signature', ms, `ENERGY_Total=9.5,Time="${time19(ms)}",Signature="${SIG}"`)}`,
        ),
        // Older than any window: a silent device, and one whose last verified reading predates its failing ones.
        ok('silent', T - DAY - MINUTE),
        ok('silent', T - DAY, '2.500'),
        ok('silent-proofless', T - DAY - MINUTE),
        row('silent-proofless', 'ok', T - DAY, `ENERGY_Total=9.5,Time="${time19(T - DAY)}",Signature="${SIG}"`),
        okThree('stale-verified', T - DAY),
        ...live(
          'stale-verified',
          (ms) => row('stale-verified', 'replay', ms, `ENERGY_Total_0=1,Time="${time19(ms)}",Signature="${SIG}"`),
          (ms) => row('stale-verified', 'replay', ms, `ENERGY_Total_0=1,Time="${time19(ms)}",Signature="${SIG}"`),
        ),
      ].join('\n'),
    );
  });

  const ask = async (q: string) => {
    const body = new URLSearchParams({ db: 'window', q, epoch: 'ms' });
    return ((await (await fetch(`${influx.url}/query`, { method: 'POST', body })).json()) as { results: InfluxResult[] }).results[0]!;
  };
  const table = (results: Answer[]) => {
    const frame = trustFrame(results, 'ENERGY_Total', 'A', '');
    const col = (name: string) => frame.fields.find((f) => f.name === name)!.values as unknown[];
    return Object.fromEntries(
      (col('device') as string[]).map((d, i) => [
        d,
        Object.fromEntries(frame.fields.filter((f) => f.name !== 'device').map((f) => [f.name, f.values[i]])),
      ]),
    );
  };

  it('gives the frame of the full statements, reading only the missed devices in full', async () => {
    const { results, executed } = await trustAnswers((statements) => Promise.all(statements.map(ask)), win);
    // The reference: every full statement for every device, and the phase counts of them all.
    const full: Answer[] = await Promise.all(trustStatements(win).map(ask));
    full[2] = { series: [...(full[2]!.series ?? []), ...((await ask(phaseStatements(win).count)).series ?? [])] };
    const [flow, reference] = [table(results), table(full)];
    expect(flow).toEqual(reference);
    expect(executed.some((q) => q.startsWith('SELECT "device"::tag'))).toBe(true); // the window was read
    const missed = executed
      .filter((q) => q.startsWith('SELECT last(') && q.includes('"device"::tag =~'))
      .map((q) => /"device"::tag =~ (\S+)/.exec(q)?.[1]);
    expect(new Set(missed)).toEqual(new Set(['/^(?:(?:silent|silent-proofless|stale-verified))$/']));
    // The traps, and the devices the window misses: read in full.
    expect(verdictsOf(flow)).toEqual({ ...TRAP_VERDICTS, silent: 'ok', 'silent-proofless': 'unproven', 'stale-verified': 'replay' });
    expect(flow.silent!.signed_values).toEqual([2.5]);
    expect(flow['stale-verified']!.signed_at).toBe(T - DAY);
    expect(flow['stale-verified']!.signed_values).toEqual([1.5, 2.25, 3]);
    expect(flow.three!.readings).toBe(120);
    expect(flow.single!.readings).toBe(120);
  });
});
