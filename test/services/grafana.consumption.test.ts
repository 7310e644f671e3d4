// @vitest-environment jsdom
/**
 * The data source's "Verified consumption" statements (statements.ts `consumptionStatements`) on a real
 * InfluxDB filled by the built processor from firmware-faithful plugs (sim/plug.ts): the figure they
 * prove (datasource/consumption.ts) must be `meterproof statement create`'s `consumption_kwh` for the
 * same range, exactly; a plug hard-reset inside the range (a new key) shows a gap, not a number.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeStatementCrypto } from '../../cli/statement/node-crypto';
import { parseKeyFile } from '../../core/keyfile';
import type { Statement } from '../../core/statement/format';
import { checkStatement } from '../../core/statement/verify';
import {
  CONSUMPTION_FIELDS,
  consumptionStatement,
  proveConsumption,
  readAnchors,
  runConsumption,
} from '../../grafana-plugin/datasource/consumption';
import type { InfluxResult } from '../../grafana-plugin/datasource/influxAnswers';
import { consumptionStatements } from '../../grafana-plugin/datasource/statements';
import { Plug, type PlugReading } from '../../sim/plug';
import { runCli } from '../harness/cli';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';
import { startMetricChild } from '../harness/processor';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';

const T0 = Date.parse('2024-03-01T00:00:00Z');
const STEP_MS = 10_000;
const STORED_LAG_MS = 250;
const READINGS = 360;
const storedNs = (i: number) => BigInt(T0 + i * STEP_MS + STORED_LAG_MS) * 1_000_000n;
const at = (i: number) => new Date(T0 + i * STEP_MS);
const FROM = '2024-03-01T00:10:03Z';
const TO = '2024-03-01T00:50:03Z';
const RANGE = { fromMs: Date.parse(FROM), toMs: Date.parse(TO) };

function meter(name: string, opts: { phases?: 1 | 3; seed?: string; from?: number; to?: number; startMicroKwh?: number } = {}) {
  const plug = new Plug(
    { name, phases: opts.phases ?? 1, energyRes: 3, startMicroKwh: opts.startMicroKwh ?? 1_234_500 },
    opts.seed ?? 'consumption',
  );
  const readings: (PlugReading | undefined)[] = [];
  for (let i = 0; i < READINGS; i++)
    if (i >= (opts.from ?? 0) && i <= (opts.to ?? READINGS - 1)) {
      plug.consume(350 + ((i * 37) % 200));
      readings[i] = plug.read(at(i));
    }
  return { plug, readings };
}

describe('Grafana "Verified consumption" on a real InfluxDB', () => {
  let influx: InfluxServer;
  let dir: string;
  let keysPath: string;
  let keysText: string;
  let results: InfluxResult[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meterproof-consumption-'));
    influx = await startInfluxDB();
    await influx.query('CREATE DATABASE "plugs"');
    const plain = meter('plain-1');
    const three = meter('three-1', { phases: 3 });
    const before = meter('reset-1', { to: 179 });
    const after = meter('reset-1', { seed: 'after-reset', from: 186, startMicroKwh: 20 });
    const devices = [
      { readings: plain.readings, mode: 'json' as const },
      { readings: three.readings, mode: 'value' as const },
      { readings: Array.from({ length: READINGS }, (_, i) => before.readings[i] ?? after.readings[i]), mode: 'json' as const },
    ];
    keysText = JSON.stringify({
      'plain-1': plain.plug.publicKeyHex,
      'three-1': three.plug.publicKeyHex,
      'reset-1': [
        { key: before.plug.publicKeyHex, not_after: '2024-03-01T00:30:00' },
        { key: after.plug.publicKeyHex, not_before: '2024-03-01T00:30:00' },
      ],
    });
    keysPath = join(dir, 'pub_keys.json');
    await writeFile(keysPath, keysText);
    const stored: string[] = [];
    const processor = startMetricChild(['--keys', keysPath], (line) => stored.push(line));
    for (const d of devices)
      d.readings.forEach((r, i) => {
        if (r) processor.send(telegrafLine(r.topic, r.payload, storedNs(i), { mode: d.mode, topicTags: '_/device/_' }));
      });
    const { code, stderr } = await processor.close();
    expect(code, stderr).toBe(0);
    await influx.write('plugs', stored.join('\n'));

    // The data source's request: the four statements in one POST, epoch=ms (influxClient.ts).
    const statements = consumptionStatements({
      measurement: 'mqtt_consumer',
      totalField: 'ENERGY_Total',
      ...RANGE,
      filters: [],
    });
    const res = await fetch(`${influx.url}/query?db=plugs&epoch=ms`, {
      method: 'POST',
      body: new URLSearchParams({ q: statements.join('; ') }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: InfluxResult[] };
    expect(body.results.map((r) => r.error)).toEqual([undefined, undefined, undefined, undefined]);
    results = body.results;
  }, 240_000);

  afterAll(async () => {
    await influx?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const created = async (device: string): Promise<Statement> => {
    const res = await runCli([
      'statement',
      'create',
      '--url',
      influx.url,
      '--db',
      'plugs',
      '--keys',
      keysPath,
      '--from',
      FROM,
      '--to',
      TO,
      '--device',
      device,
    ]);
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as Statement;
  };

  it('proves the figure `meterproof statement create` makes, exactly, for one- and three-phase meters', async () => {
    const keys = parseKeyFile(keysText);
    const frame = await runConsumption(
      results,
      { totalField: 'ENERGY_Total', range: RANGE, keys, database: 'plugs', measurement: 'mqtt_consumer' },
      'A',
      '',
    );
    const col = (name: string) => frame.fields.find((f) => f.name === name)!.values;
    expect(col(CONSUMPTION_FIELDS.device)).toEqual(['plain-1', 'reset-1', 'three-1']);
    expect(col(CONSUMPTION_FIELDS.status)).toEqual(['proven', 'gap', 'proven']);
    for (const [i, device] of [
      [0, 'plain-1'],
      [2, 'three-1'],
    ] as const) {
      const cli = await created(device);
      expect(cli.segments).toHaveLength(1);
      expect(col(CONSUMPTION_FIELDS.kwhText)[i]).toBe(cli.consumption_kwh_text);
      expect(col(CONSUMPTION_FIELDS.kwh)[i]).toBe(cli.consumption_kwh);
      expect(col(CONSUMPTION_FIELDS.startSignedTotal)[i]).toBe(cli.segments[0]!.start.signed_total);
      expect(col(CONSUMPTION_FIELDS.endSignedTime)[i]).toBe(cli.segments[0]!.end.signed_time);
      expect(col(CONSUMPTION_FIELDS.startStored)[i]).toBe(Date.parse(cli.segments[0]!.start.stored_time));
    }
    // The hard reset: the CLI finds two segments; the data source, with cheap statements only, a gap.
    const reset = await created('reset-1');
    expect(reset.segments).toHaveLength(2);
    expect(col(CONSUMPTION_FIELDS.kwh)[1]).toBeNull();
    expect(col(CONSUMPTION_FIELDS.reason)[1]).toContain('different keys');
    // The fourth statement (smallest step inside the range) sees the drop on the real InfluxDB too.
    const steps = Object.fromEntries(readAnchors(results, 'ENERGY_Total').map((d) => [d.device, d.minStep]));
    expect(steps['reset-1']).toBeLessThan(0);
    expect(steps['plain-1']).toBeGreaterThanOrEqual(0);
    expect(steps['three-1']).toBeGreaterThanOrEqual(0);
  });

  it('its statement for download passes checkStatement', async () => {
    const keys = parseKeyFile(keysText);
    for (const anchors of readAnchors(results, 'ENERGY_Total').filter((a) => a.device !== 'reset-1')) {
      const c = await proveConsumption(anchors, RANGE, keys);
      const s = await consumptionStatement(c, RANGE, { database: 'plugs', measurement: 'mqtt_consumer' });
      expect((await checkStatement(JSON.parse(JSON.stringify(s)), nodeStatementCrypto(), keys)).problems).toEqual([]);
    }
  });
});
