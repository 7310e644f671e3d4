// @vitest-environment jsdom
/**
 * A verified and an unverified row of one device at the same latest time, in a real InfluxDB 1.6: the
 * data source's trust statements and frame fail closed, whichever row was written first. (Grouped by the
 * device alone, InfluxDB answers such a tie with the verified row in every write order.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/fixtures/grafana/jsdomSetup';
import { trustFrame } from '../../grafana-plugin/datasource/frames';
import { trustStatements } from '../../grafana-plugin/datasource/statements';
import { startInfluxDB, type InfluxResult, type InfluxServer } from '../harness/influxdb';

const T = 1_750_000_000_000;
const ok = (device: string, ms: number) =>
  `mqtt_consumer,device=${device},verified=true,verify_status=ok ENERGY_Total=1.5,Time="2025-06-15T15:06:40",` +
  `Signature="${'ab'.repeat(64)}",signed_message="2025-06-15T15:06:40,1.500" ${ms}000000`;
const bad = (device: string, ms: number) =>
  `mqtt_consumer,device=${device},verified=false,verify_status=bad_signature ENERGY_Total=9.5,Time="2025-06-15T15:06:40",` +
  `Signature="${'cd'.repeat(64)}" ${ms}000000`;

let influx: InfluxServer;
beforeAll(async () => {
  influx = await startInfluxDB();
  await influx.query('CREATE DATABASE "tie"');
  // Each device: an earlier verified reading, then a tie at its latest time, written in both orders.
  await influx.write('tie', [ok('verified-first', T - 60_000), ok('verified-first', T), bad('verified-first', T)].join('\n'));
  await influx.write('tie', [ok('failing-first', T - 60_000), bad('failing-first', T), ok('failing-first', T)].join('\n'));
});
afterAll(async () => {
  await influx?.stop();
});

describe('a tie at a device latest time', () => {
  it('shows the device as failing, whichever row was written first', async () => {
    const statements = trustStatements({
      measurement: 'mqtt_consumer',
      totalField: 'ENERGY_Total',
      fromMs: T - 3_600_000,
      toMs: T + 1,
      filters: [],
    });
    // As the data source asks: one request, times as epoch milliseconds.
    const body = new URLSearchParams({ db: 'tie', q: statements.join(';'), epoch: 'ms' });
    const { results } = (await (await fetch(`${influx.url}/query`, { method: 'POST', body })).json()) as { results: InfluxResult[] };
    const frame = trustFrame(results, 'ENERGY_Total', 'A', statements.join(';'));
    const col = (name: string) => frame.fields.find((f) => f.name === name)!.values as unknown[];
    const byDevice = Object.fromEntries(col('device').map((d, i) => [d, { verdict: col('verdict')[i], verified: col('verified')[i] }]));
    expect(byDevice).toEqual({
      'failing-first': { verdict: 'bad_signature', verified: false },
      'verified-first': { verdict: 'bad_signature', verified: false },
    });
  });
});
