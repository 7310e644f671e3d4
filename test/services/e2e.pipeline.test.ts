/**
 * The whole pipeline on real services: `meterproof simulate` publishes a fleet with tampered,
 * foreign-signed, unsigned, replayed, rolled-back and unknown-key messages to a real Mosquitto; a
 * subscriber turns each message into the line Telegraf's mqtt_consumer would hand to execd (json v1,
 * and the exact `value` mode); the real dist/processor.js judges them; the output goes to a real
 * InfluxDB the way outputs.influxdb writes it. Then the Grafana data source's trust statements and
 * `meterproof audit` must give every device the verdicts the fleet was built to produce.
 */
import { mkdtemp, rm, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyStatus } from '../../core/status';
import { phaseStatements, trustStatements } from '../../grafana-plugin/datasource/statements';
import { deviceClock, parseStart } from '../../sim/clock';
import type { FleetMessage } from '../../sim/fleet';
import { buildSimulatedFleet, fleetRounds, parseFleetOptions, type FleetOptionText } from '../../sim/options';
import { startInfluxDB, type InfluxServer, type InfluxSeries } from '../harness/influxdb';
import { startMosquitto, type MosquittoServer } from '../harness/mosquitto';
import { waitFor } from '../harness/ports';
import { startMetricChild, type MetricChild } from '../harness/processor';
import { completion, runCli, spawnCli } from '../harness/cli';
import { InfluxOutput } from '../harness/telegraf-influxdb-output';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';

const FLEET: FleetOptionText = {
  devices: '10',
  'energy-res': '3,2,0,5,1',
  phases: '0.3',
  zone: '+01:00',
  seed: 'e2e-pipeline',
  tampered: '0.08',
  foreign: '0.05',
  unsigned: '0.08',
  replayed: '0.1',
  rollback: '0.06',
  unknown: '0.2',
};
const ROUNDS = 12;
const INTERVAL_MS = 20;
const START = '2024-03-01T12:00:00';
const MODES = ['json', 'value'] as const;
type Mode = (typeof MODES)[number];

/** The fleet `simulate` builds from the same options: what it must send, and each message's verdict. */
function expectedMessages(): FleetMessage[] {
  const options = parseFleetOptions(FLEET);
  const rounds = fleetRounds(buildSimulatedFleet(options), options.faults, deviceClock(parseStart(START), INTERVAL_MS));
  return Array.from({ length: ROUNDS }, () => rounds.next().value).flat();
}

/** What the plug signed, read straight off the payload text (Time's 19 characters, Total verbatim). */
function signedText(payload: string): string {
  const m = /"Time":"(.{19})[^"]*".*"Total":(\[[^\]]*\]|[^,}]+)/.exec(payload);
  if (!m) throw new Error(`no Time/Total in ${payload}`);
  return `${m[1]},${m[2]}`;
}

/** An RFC 3339 time as InfluxDB returns it (up to nanoseconds), as epoch nanoseconds. */
const epochNs = (t: string): bigint => {
  const [sec, frac = ''] = t.replace('Z', '').split('.');
  return BigInt(Date.parse(`${sec}Z`)) * 1_000_000n + BigInt(`${frac}000000000`.slice(0, 9));
};
const rowsOf = (series: InfluxSeries | undefined) =>
  (series?.values ?? []).map((v) => Object.fromEntries(series!.columns.map((c, i) => [c, v[i]])) as Record<string, unknown>);

describe('simulate → Mosquitto → Telegraf stand-in → processor → InfluxDB', () => {
  let broker: MosquittoServer;
  let influx: InfluxServer;
  let dir: string;
  const expected = expectedMessages();
  const received: { topic: string; payload: string }[] = [];
  const processed: Record<Mode, string[]> = { json: [], value: [] };
  let testStart = 0;

  beforeAll(async () => {
    [broker, influx] = await Promise.all([startMosquitto(), startInfluxDB()]);
    dir = await mkdtemp(join(tmpdir(), 'meterproof-e2e-'));
    for (const mode of MODES) await influx.query(`CREATE DATABASE "e2e_${mode}"`);
    testStart = Date.now();
    const keys = join(dir, 'pub_keys.json');

    const subscriber: MqttClient = await connectAsync(broker.url, { clientId: 'e2e-telegraf-stand-in' });
    await subscriber.subscribeAsync('tele/+/SENSOR', { qos: 1 });
    const outputs = Object.fromEntries(MODES.map((m) => [m, new InfluxOutput(influx.url, `e2e_${m}`, 50)])) as Record<Mode, InfluxOutput>;
    const processors: Partial<Record<Mode, MetricChild>> = {};
    // Telegraf stamps each metric with its arrival time; one nanosecond apart keeps every point distinct.
    let clockNs = BigInt(Date.now()) * 1_000_000n;
    const waiting: Record<Mode, string[]> = { json: [], value: [] };
    subscriber.on('message', (topic, payload) => {
      received.push({ topic, payload: payload.toString() });
      clockNs += 1n;
      for (const mode of MODES) {
        const line = telegrafLine(topic, payload.toString(), clockNs, { mode, topicTags: '_/device/_' });
        const p = processors[mode];
        if (p) p.send(line);
        else waiting[mode].push(line); // Telegraf buffers too while its processor starts
      }
    });

    const sim = await spawnCli([
      'simulate',
      '--broker',
      broker.url,
      '--qos',
      '1',
      '--count',
      String(ROUNDS),
      '--interval',
      String(INTERVAL_MS),
      '--start',
      START,
      '--keys-out',
      keys,
      ...Object.entries(FLEET).flatMap(([k, v]) => [`--${k}`, v!]),
    ]);
    const simDone = completion(sim);
    // simulate writes the registry before it connects; the processor needs it to start.
    await waitFor('pub_keys.json', async () => access(keys).then(() => true));
    for (const mode of MODES) {
      const p = startMetricChild(['--keys', keys, '--state', join(dir, `state-${mode}.json`)], (line) => {
        processed[mode].push(line);
        outputs[mode].add(line);
      });
      waiting[mode].splice(0).forEach((line) => p.send(line));
      processors[mode] = p;
    }

    const sent = await simDone;
    expect(sent.stderr, 'simulate is quiet when piped').toBe('');
    expect(sent.code).toBe(0);
    await waitFor('every message', async () => received.length >= expected.length, 15_000);
    await subscriber.endAsync();
    for (const mode of MODES) {
      const { code, stderr } = await processors[mode]!.close();
      expect(code, stderr).toBe(0);
      await outputs[mode].flush();
    }
  });

  afterAll(async () => {
    await Promise.all([broker?.stop(), influx?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the fleet covers every verdict the processor can reach from MQTT', () => {
    const statuses = new Set(expected.map((m) => m.expected));
    expect([...statuses].sort()).toEqual(['bad_signature', 'ok', 'replay', 'rollback', 'unknown_device', 'unsigned']);
    expect(new Set(expected.map((m) => m.fault))).toContain('foreign_signature');
  });

  it('simulate published exactly the firmware-faithful messages, in order, over the real broker', () => {
    expect(received).toEqual(expected.map(({ topic, payload }) => ({ topic, payload })));
  });

  it.each(MODES)('%s mode: the processor answers one metric per message', (mode) => {
    expect(processed[mode]).toHaveLength(expected.length);
  });

  it.each(MODES)('%s mode: InfluxDB holds every message with the verdict its making implies', async (mode) => {
    // SELECT * : naming only sparse fields would drop the rows that lack them.
    const [res] = await influx.query('SELECT * FROM "mqtt_consumer" ORDER BY time ASC', `e2e_${mode}`);
    const rows = rowsOf(res!.series?.[0]);
    expect(rows).toHaveLength(expected.length);
    const got = rows.map((r) => [r.device, r.verify_status, r.verified, r.signed_message ?? null]);
    const want = expected.map((m) => [
      m.device,
      m.expected,
      String(m.expected === 'ok'),
      m.expected === 'ok' ? signedText(m.payload) : null,
    ]);
    expect(got).toEqual(want);
  });

  it.each(MODES)("%s mode: the data source's trust statements give each device its expected trust", async (mode) => {
    const scope = {
      measurement: 'mqtt_consumer',
      totalField: 'ENERGY_Total',
      fromMs: testStart - 60_000,
      toMs: Date.now() + 60_000,
      filters: [],
    };
    const statements = trustStatements(scope);
    const ask = async (q: string) => (await influx.query(q, `e2e_${mode}`))[0]!;
    const results = await Promise.all(statements.map(ask));
    const devices = [...new Set(expected.map((m) => m.device))];

    // 0, 1: each device's last row per verdict (by Time, and failing rows by Total); the latest of them is
    // its last reading.
    const lastRows = [0, 1].flatMap((i) =>
      (results[i]!.series ?? []).flatMap((s) => rowsOf(s).map((r) => ({ tags: s.tags!, time: epochNs(String(r.time)), row: r }))),
    );
    const latest = (rows: typeof lastRows) => {
      const byDevice = new Map<string, (typeof lastRows)[number]>();
      for (const r of rows) {
        const before = byDevice.get(r.tags.device!);
        if (!before || r.time > before.time) byDevice.set(r.tags.device!, r);
      }
      return byDevice;
    };
    const last = Object.fromEntries([...latest(lastRows)].map(([d, r]) => [d, r.tags.verify_status]));
    expect(last).toEqual(Object.fromEntries(devices.map((d) => [d, expected.filter((m) => m.device === d).at(-1)!.expected])));

    // 0: each device's last verified reading carries the text its plug signed; unknown plugs have none.
    const verified = latest(lastRows.filter((r) => r.tags.verified === 'true'));
    const lastVerified = Object.fromEntries([...verified].map(([d, r]) => [d, r.row.signed_message]));
    const lastOk = (d: string) => expected.filter((m) => m.device === d && m.expected === 'ok').at(-1);
    expect(lastVerified).toEqual(Object.fromEntries(devices.filter(lastOk).map((d) => [d, signedText(lastOk(d)!.payload)])));

    // 2, 3 and the phase counts: readings per device and verdict (verified ones by their Total or first
    // phase, the others by Time and each Total; the larger count).
    const counts: Record<string, Partial<Record<VerifyStatus, number>>> = {};
    for (const r of [results[2]!, results[3]!, await ask(phaseStatements(scope).count)])
      for (const s of r.series ?? []) {
        const n = Math.max(...(s.values[0]!.slice(1) as number[]));
        const byStatus = (counts[s.tags!.device!] ??= {});
        const status = s.tags!.verify_status as VerifyStatus;
        byStatus[status] = Math.max(byStatus[status] ?? 0, n);
      }
    const want: typeof counts = {};
    for (const m of expected) (want[m.device] ??= {})[m.expected] = (want[m.device]![m.expected] ?? 0) + 1;
    expect(counts).toEqual(want);
  });

  it.each(MODES)('%s mode: meterproof audit agrees with every stored verdict (exit 0)', async (mode) => {
    const res = await runCli(['audit', '--url', influx.url, '--db', `e2e_${mode}`, '--keys', join(dir, 'pub_keys.json'), '--json']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as {
      rows: number;
      reverified: number;
      disagreements: number;
      devices: { device: string; rows: number }[];
    };
    expect(report.disagreements).toBe(0);
    expect(report.rows).toBe(expected.length);
    // Genuine signatures: ok, and the replays and rollbacks the processor refused for their order.
    expect(report.reverified).toBe(expected.filter((m) => ['ok', 'replay', 'rollback'].includes(m.expected)).length);
    const perDevice = Object.fromEntries(report.devices.map((d) => [d.device, d.rows]));
    const want: Record<string, number> = {};
    for (const m of expected) want[m.device] = (want[m.device] ?? 0) + 1;
    expect(perDevice).toEqual(want);
  });
});
