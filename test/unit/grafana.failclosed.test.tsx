// @vitest-environment jsdom
// What the trust panel and the data source must never show as verified (security review). Each block
// names the deliberate bug it catches; every one of them passed the whole suite before these tests:
// 1. a browser re-check that compares only the first phase of a three-phase reading;
// 2. a verified and an unverified reading of one device at one time where the verified one wins;
// 3. rows without a `verified` tag, or tagged verified without Signature/signed_message, shown as verified;
// and a verdict read from a field named `verified` instead of the tag.
import '../harness/fixtures/grafana/jsdomSetup';
import * as React from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { FieldType, LoadingState, type DataFrame, type Field, type PanelData, type PanelProps } from '@grafana/data';
import { setDataSourceSrv, type DataSourceSrv } from '@grafana/runtime';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../core/keyfile';
import { trustFrame } from '../../grafana-plugin/datasource/frames';
import type { InfluxResult } from '../../grafana-plugin/datasource/influxAnswers';
import { buildTrustOverview, type DeviceTrust } from '../../grafana-plugin/panel/deviceTrust';
import { DEFAULT_OPTIONS, type TrustPanelOptions } from '../../grafana-plugin/panel/options';
import { recheck } from '../../grafana-plugin/panel/recheck';
import { TrustPanel } from '../../grafana-plugin/panel/TrustPanel';
import { deviceKey, sign, trustResults } from '../harness/fixtures/grafana/fleetFrames';
import GROUP_BY_STAR from '../harness/fixtures/grafana/trust-response-groupby-star.json';

let keyListJson = '';
setDataSourceSrv({
  getInstanceSettings: () => ({ type: 'meterproof-trust-datasource', jsonData: { publicKeys: keyListJson } }),
  getList: () => [],
} as unknown as DataSourceSrv);

const T = Date.now() - 60_000;
const M1 = '2024-05-01T10:00:00,1.500';
const M3 = '2024-05-01T10:00:00,[1201.500,980.250,1110.000]';
const GENUINE_3PH = [1201.5, 980.25, 1110];
let sig1 = '';
let sig3 = '';

beforeAll(async () => {
  const [k1, k3] = await Promise.all([deviceKey(11), deviceKey(13)]);
  [sig1, sig3] = await Promise.all([sign(M1, k1.secret), sign(M3, k3.secret)]);
  // Every single-phase device here shares one key, every three-phase one another.
  const keys: Record<string, string> = {};
  for (const d of ['one', 'tie', 'proofless', 'untagged', 'g', 'e', 'lookalike']) keys[d] = k1.publicHex;
  for (const d of ['three', 'edited', 'edited2', 'g3', 'e3', 'l3']) keys[d] = k3.publicHex;
  keyListJson = JSON.stringify(keys);
});

// ---- helpers ----

const REQUEST = { targets: [{ refId: 'A', datasource: { uid: 'mp' } }] } as unknown as PanelData['request'];
let root: Root | undefined;
let host: HTMLDivElement | undefined;
afterEach(() => {
  act(() => root?.unmount());
  host?.remove();
  root = host = undefined;
});

/** Renders the panel with the frames and waits until every browser re-check has answered. */
async function render(series: DataFrame[]): Promise<HTMLDivElement> {
  const el = document.createElement('div');
  host = el;
  document.body.appendChild(el);
  const props = {
    data: { state: LoadingState.Done, series, timeRange: {}, request: REQUEST },
    options: DEFAULT_OPTIONS,
    width: 1100,
    height: 420,
  } as unknown as PanelProps<TrustPanelOptions>;
  await act(async () => {
    root = createRoot(el);
    root.render(<TrustPanel {...props} />);
  });
  for (let i = 0; i < 100 && el.textContent!.includes('checking…'); i++) await act(() => new Promise((r) => setTimeout(r, 20)));
  return el;
}
const rowText = (el: HTMLElement, device: string) => el.querySelector(`[data-device="${device}"]`)?.textContent ?? '';
const summary = (el: HTMLElement) => el.querySelector('[aria-label=Summary]')!.textContent;
const dsFrame = (results: InfluxResult[]) => trustFrame(results, 'ENERGY_Total', 'A', '');
const col = (f: DataFrame, name: string) => f.fields.find((x) => x.name === name)!.values;
const device = (frames: DataFrame[], name: string): DeviceTrust => buildTrustOverview(frames).devices.find((d) => d.device === name)!;

const str = (name: string, values: unknown[]): Field => ({ name, type: FieldType.string, values, config: {} });
const numf = (name: string, values: unknown[]): Field => ({ name, type: FieldType.number, values, config: {} });
const time = (values: number[]): Field => ({ name: 'Time', type: FieldType.time, values, config: {} });
const table = (fields: Field[]): DataFrame => ({ length: fields[0]!.values.length, fields });

/** Statement 0's series for one device: one row per reading, as [time, verified, verify_status]. */
const lastRows = (dev: string, rows: Array<[number, unknown, unknown]>) => ({
  tags: { device: dev },
  columns: ['time', 'verified', 'verify_status', 'ENERGY_Total'],
  values: rows.map(([t, v, s]) => [t, v, s, 1.5]),
});
/** Statement 1's series for one device: verified rows as [time, ENERGY_Total, signed_message, Signature]. */
const signedRows = (dev: string, rows: Array<[number, number, string | null, string | null]>) => ({
  tags: { device: dev },
  columns: ['time', 'ENERGY_Total', 'signed_message', 'Signature'],
  values: rows,
});
const results = (last: object[], signed: object[], counts: object[] = []): InfluxResult[] => [
  { series: last as never },
  { series: signed as never },
  { series: counts as never },
];

// ---- 1 ----

describe('1. the browser re-check compares every phase (bug: only the first phase is compared)', () => {
  it('recheck: an edited ENERGY_Total_1 or _2, a missing or an extra phase differ from the signed text', async () => {
    const keys = parseKeyFile(keyListJson);
    const check = (values: number[]) => recheck({ device: 'three', message: M3, signature: sig3, values }, keys);
    expect(await check(GENUINE_3PH)).toEqual({ kind: 'verified' });
    expect(await check([1201.5, 5000, 1110])).toEqual({
      kind: 'total_mismatch',
      detail: 'signed [1201.500,980.250,1110.000], stored 1201.5, 5000, 1110',
    });
    expect(await check([1201.5, 980.25, 1110.001])).toMatchObject({ kind: 'total_mismatch' });
    expect(await check([1201.5, 980.25])).toMatchObject({ kind: 'total_mismatch' });
    expect(await check([...GENUINE_3PH, 0])).toMatchObject({ kind: 'total_mismatch' });
  });

  it('data source and panel: a stored ENERGY_Total_1 edited after verification is flagged', async () => {
    const plug = (name: string, values: number[]) => ({
      device: name,
      status: 'ok',
      lastSeen: T,
      signedAt: T,
      values,
      message: M3,
      signature: sig3,
      counts: { ok: 1 },
    });
    const frame = dsFrame(
      trustResults([plug('three', GENUINE_3PH), plug('edited', [1201.5, 5000, 1110]), plug('edited2', [1201.5, 980.25, 1])]),
    );
    expect(col(frame, 'device')).toEqual(['edited', 'edited2', 'three']);
    expect(col(frame, 'signed_values')).toEqual([[1201.5, 5000, 1110], [1201.5, 980.25, 1], GENUINE_3PH]);
    const el = await render([frame]);
    expect(rowText(el, 'three')).toMatch(/✓verified1201\.500 \/ 980\.250 \/ 1110\.000 kWh.*✓re-checked in your browser/);
    expect(rowText(el, 'edited')).toMatch(/1201\.500 \/ 980\.250 \/ 1110\.000 kWh.*⚠differs: total changed/);
    expect(rowText(el, 'edited2')).toContain('⚠differs: total changed');
    expect(summary(el)).toMatch(/ · 2 differ in browser$/);
  });

  // SELECT * on the stock InfluxDB data source, table format: Time, tags and fields as columns.
  const threePhaseTable = (rows: Array<{ dev: string; totals: number[]; extra?: Record<string, number> }>) => {
    const extras = [...new Set(rows.flatMap((r) => Object.keys(r.extra ?? {})))];
    return table([
      time(rows.map(() => T)),
      str(
        'device',
        rows.map((r) => r.dev),
      ),
      str(
        'verified',
        rows.map(() => 'true'),
      ),
      str(
        'verify_status',
        rows.map(() => 'ok'),
      ),
      numf(
        'ENERGY_Power',
        rows.map(() => 230),
      ),
      ...[0, 1, 2].map((p) =>
        numf(
          `ENERGY_Total_${p}`,
          rows.map((r) => r.totals[p]),
        ),
      ),
      ...[0, 1, 2].map((p) =>
        numf(
          `ENERGY_Voltage_${p}`,
          rows.map(() => 229 + p),
        ),
      ),
      ...extras.map((c) =>
        numf(
          c,
          rows.map((r) => r.extra?.[c] ?? null),
        ),
      ),
      str(
        'Signature',
        rows.map(() => sig3),
      ),
      str(
        'signed_message',
        rows.map(() => M3),
      ),
    ]);
  };

  it('stock table: every Total phase is compared, and no other column stands in for one', async () => {
    const el = await render([
      threePhaseTable([
        { dev: 'g3', totals: GENUINE_3PH },
        { dev: 'e3', totals: [1201.5, 5000, 1110] },
      ]),
    ]);
    // ENERGY_Power and ENERGY_Voltage_0..2 are not phases: the genuine row re-checks.
    expect(rowText(el, 'g3')).toMatch(/✓verified1201\.500 \/ 980\.250 \/ 1110\.000 kWh.*✓re-checked in your browser/);
    expect(rowText(el, 'e3')).toContain('⚠differs: total changed');
  });

  it('stock table: a look-alike column holding the signed value cannot cover an edited phase', async () => {
    const frames = [threePhaseTable([{ dev: 'l3', totals: [1201.5, 5000, 1110], extra: { last_ENERGY_Total_1: 980.25, zz_1: 980.25 } }])];
    expect(device(frames, 'l3').status).toBe('unproven');
    expect(device(frames, 'l3').signed).toBeUndefined();
    const el = await render(frames);
    expect(rowText(el, 'l3')).toMatch(/✗unproven.*none in range/);
    expect(rowText(el, 'l3')).not.toContain('re-checked in your browser');
  });
});

// ---- 2 ----

describe('2. a verified and an unverified reading at one time: the device is not verified (bug: the verified one wins)', () => {
  const okRow = { verified: 'true', status: 'ok', total: 1.5, message: M1, signature: () => sig1 };
  const badRow = { verified: 'false', status: 'bad_signature', total: 1.7, message: null, signature: () => 'ab'.repeat(64) };
  const orders = [
    ['verified first', [okRow, badRow]],
    ['unverified first', [badRow, okRow]],
  ] as const;

  it.each(orders)('stock table, %s', async (_, rows) => {
    const frames = [
      table([
        time([T - 60_000, T, T]),
        str('device', ['tie', 'tie', 'tie']),
        str('verified', ['true', ...rows.map((r) => r.verified)]),
        str('verify_status', ['ok', ...rows.map((r) => r.status)]),
        numf('ENERGY_Total', [1.4, ...rows.map((r) => r.total)]),
        str('signed_message', ['2024-05-01T09:59:00,1.400', ...rows.map((r) => r.message)]),
        str('Signature', ['ab'.repeat(64), ...rows.map((r) => r.signature())]),
      ]),
    ];
    expect(device(frames, 'tie')).toMatchObject({ status: 'bad_signature', lastSeen: T, readings: 3, verifiedReadings: 2 });
    const el = await render(frames);
    expect(rowText(el, 'tie')).toMatch(/^tie✗bad signature/);
    expect(summary(el)).toMatch(/^1 devices · 0 verified now · 1 failing/);
  });

  it.each(orders)('stock time series (GROUP BY "device", "verified", "verify_status"), %s', (_, rows) => {
    const frames = rows.map((r): DataFrame => ({
      name: `mqtt_consumer.last_ENERGY_Total {device: tie, verified: ${r.verified}, verify_status: ${r.status}}`,
      length: 1,
      fields: [time([T]), { ...numf('Value', [r.total]), labels: { device: 'tie', verified: r.verified, verify_status: r.status } }],
    }));
    expect(device(frames, 'tie').status).toBe('bad_signature');
  });

  // The statements' answers may hold several rows of a device at its latest time: rows of one series
  // (no LIMIT), or one series per tag set (GROUP BY *). All of them count, whatever their order.
  it.each(orders)('data source, rows of one series, %s', async (_, rows) => {
    const frame = dsFrame(
      results(
        [
          lastRows(
            'tie',
            rows.map((r) => [T, r.verified, r.status]),
          ),
        ],
        [signedRows('tie', [[T, 1.5, M1, sig1]])],
      ),
    );
    expect(col(frame, 'verdict')).toEqual(['bad_signature']);
    expect(col(frame, 'verified')).toEqual([false]);
    expect(col(frame, 'verify_status')).toEqual(['bad_signature']);
    const el = await render([frame]);
    expect(rowText(el, 'tie')).toMatch(/^tie✗bad signature.*1\.500 kWh/);
    expect(summary(el)).toMatch(/^1 devices · 0 verified now · 1 failing/);
  });

  it.each(orders)('data source, one series per tag set (GROUP BY *), %s', (_, rows) => {
    const frame = dsFrame(
      results(
        rows.map((r) => ({
          tags: { device: 'tie', verified: r.verified, verify_status: r.status },
          columns: ['time', 'ENERGY_Total'],
          values: [[T, r.total]],
        })),
        [signedRows('tie', [[T, 1.5, M1, sig1]])],
      ),
    );
    expect(col(frame, 'verdict')).toEqual(['bad_signature']);
    expect(device([frame], 'tie').status).toBe('bad_signature');
  });

  it('data source: what InfluxDB 1.6 answers statements 0 and 1 grouped by * (every series of a device)', () => {
    // Recorded from influxd 1.6 with `GROUP BY *` and `::tag`: a and c wrote the verified row first, b last, all
    // at one time; d's newest row was written without tags, e's newest is tagged verified but carries no proof.
    // Today's statements (GROUP BY "device" … LIMIT 1) answer only the verified row for a, b and c.
    const frame = dsFrame((GROUP_BY_STAR as { results: InfluxResult[] }).results);
    expect(col(frame, 'device')).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(col(frame, 'verdict')).toEqual(['bad_signature', 'replay', 'unsigned', 'untagged', 'unproven']);
    expect(col(frame, 'verified')).toEqual([false, false, false, false, false]);
    expect(col(frame, 'signed_values')).toEqual([[1.5], [1.5], [1.5], [1.4], null]);
  });

  it('data source: two verified rows at the latest time that disagree on what was signed prove nothing', () => {
    const frame = dsFrame(
      results(
        [lastRows('tie', [[T, 'true', 'ok']])],
        [
          signedRows('tie', [
            [T, 1.5, M1, sig1],
            [T, 9.5, M1, sig1],
          ]),
        ],
      ),
    );
    expect(col(frame, 'verdict')).toEqual(['unproven']);
    expect(col(frame, 'signed_values')).toEqual([null]);
  });
});

// ---- 3 ----

describe('3. no verified tag, or no Signature/signed_message: never verified, never a signed total', () => {
  it('data source: a row without a verified tag (written straight into InfluxDB) is not verified', async () => {
    const frame = dsFrame(
      results(
        [lastRows('untagged', [[T, null, 'ok']]), { tags: { device: 'one' }, columns: ['time', 'verify_status'], values: [[T, 'ok']] }],
        [],
      ),
    );
    expect(col(frame, 'verdict')).toEqual(['untagged', 'untagged']);
    expect(col(frame, 'verified')).toEqual([false, false]);
    const el = await render([frame]);
    for (const d of ['untagged', 'one']) expect(rowText(el, d)).toMatch(new RegExp(`^${d}✗no verified tagnone in range`));
    expect(summary(el)).toMatch(/^2 devices · 0 verified now · 2 failing/);
  });

  it('data source: verified=true without signed_message or Signature is unproven, and its number is no signed total', async () => {
    const frame = dsFrame(
      results(
        [lastRows('proofless', [[T, 'true', 'ok']]), lastRows('one', [[T, 'true', 'ok']]), lastRows('tie', [[T, 'true', 'ok']])],
        [
          signedRows('proofless', [[T, 9.25, null, sig1]]),
          signedRows('one', [[T, 9.25, M1, null]]),
          // proven, but older than the latest reading: nothing proves the latest one (the older total stays)
          signedRows('tie', [[T - 60_000, 1.5, M1, sig1]]),
        ],
      ),
    );
    expect(col(frame, 'device')).toEqual(['one', 'proofless', 'tie']);
    expect(col(frame, 'verdict')).toEqual(['unproven', 'unproven', 'unproven']);
    expect(col(frame, 'verified')).toEqual([false, false, false]);
    expect(col(frame, 'signed_total')).toEqual([null, null, 1.5]);
    expect(col(frame, 'signed_values')).toEqual([null, null, [1.5]]);
    expect(col(frame, 'signed_at')).toEqual([null, null, T - 60_000]);
    const el = await render([frame]);
    expect(rowText(el, 'proofless')).toMatch(/^proofless✗unprovennone in range.*nothing signed/);
    expect(rowText(el, 'one')).toMatch(/^one✗unprovennone in range/);
    expect(rowText(el, 'tie')).toMatch(/^tie✗unproven1\.500 kWh2 min ago/);
    expect(el.textContent).not.toContain('9.25');
    expect(summary(el)).toMatch(/^3 devices · 0 verified now · 3 failing/);
  });

  it('panel: a trust frame that says verified without the proof beside it is judged again', async () => {
    const frame = dsFrame(results([lastRows('one', [[T, 'true', 'ok']])], [signedRows('one', [[T, 1.5, M1, sig1]])]));
    expect(col(frame, 'verdict')).toEqual(['ok']);
    const stripped: DataFrame = {
      ...frame,
      fields: frame.fields.map((f) => (f.name === 'signed_message' || f.name === 'Signature' ? { ...f, values: [null] } : f)),
    };
    expect(device([stripped], 'one').status).toBe('unproven');
    expect(device([stripped], 'one').signed).toBeUndefined();
    const el = await render([stripped]);
    expect(rowText(el, 'one')).toMatch(/^one✗unprovennone in range/);
    // A frame without the data source's verdict is judged from its facts alone.
    const noVerdict: DataFrame = { ...stripped, fields: stripped.fields.filter((f) => f.name !== 'verdict') };
    expect(device([noVerdict], 'one').status).toBe('unproven');
    const untagged: DataFrame = {
      ...frame,
      fields: frame.fields.filter((f) => f.name !== 'verdict').map((f) => (f.name === 'verified' ? { ...f, values: [null] } : f)),
    };
    expect(device([untagged], 'one').status).toBe('untagged');
  });

  it('stock table: a row without a verified tag, and a verified row without its proof, are not verified', async () => {
    const frames = [
      table([
        time([T, T]),
        str('device', ['untagged', 'proofless']),
        str('verified', [null, 'true']),
        str('verify_status', ['ok', 'ok']),
        numf('ENERGY_Total', [1.5, 9.25]),
        str('signed_message', [M1, null]),
        str('Signature', [sig1, sig1]),
      ]),
    ];
    expect(device(frames, 'untagged')).toMatchObject({ status: 'untagged', readings: 0 });
    expect(device(frames, 'untagged').signed).toBeUndefined();
    expect(device(frames, 'proofless').status).toBe('unproven');
    expect(device(frames, 'proofless').signed).toBeUndefined();
    expect(device(frames, 'proofless').signedAt).toBeUndefined();
    const el = await render(frames);
    expect(rowText(el, 'untagged')).toMatch(/^untagged✗no verified tagnone in range/);
    expect(rowText(el, 'proofless')).toMatch(/^proofless✗unprovennone in range/);
    expect(el.textContent).not.toContain('9.25');
  });

  it('stock time series: a series without a verified tag is not verified; a total no query proved says so', async () => {
    const series = (verified: string, t: number, value: number): DataFrame => ({
      name: `mqtt_consumer.last_ENERGY_Total {device: one, verified: ${verified}}`,
      length: 1,
      fields: [time([t]), { ...numf('Value', [value]), labels: { device: 'one', verified } }],
    });
    const frames = [series('true', T - 60_000, 1.5), series('', T, 1.6)];
    expect(device(frames, 'one')).toMatchObject({ status: 'untagged', signedAt: T - 60_000, readings: 1 });
    const el = await render(frames);
    // No signed_message in this query: the verified reading's value, said to be as stored.
    expect(rowText(el, 'one')).toMatch(/^one✗no verified tag1\.5 kWh\(as stored\)/);
  });
});

// ---- tags, not fields ----

describe('a verdict comes from the verified tag, never from a field of that name', () => {
  it('stock table from SELECT *: InfluxDB calls the field "verified" and the tag "verified_1"', () => {
    // As InfluxDB 1.x answers SELECT * once a row was written with a field named verified.
    const frames = [
      table([
        time([T - 60_000, T]),
        numf('ENERGY_Total', [1.5, 9.25]),
        str('Signature', [sig1, null]),
        str('device', ['one', 'one']),
        str('signed_message', [M1, null]),
        str('verified', [null, 'true']),
        str('verified_1', ['true', null]),
        str('verify_status', ['ok', 'ok']),
      ]),
    ];
    expect(device(frames, 'one')).toMatchObject({ status: 'untagged', readings: 0, verifiedReadings: 0 });
    expect(device(frames, 'one').signed).toBeUndefined();
  });

  it('stock table: a GROUP BY tag beside a selected field of the same name, or a boolean column, is no tag', () => {
    const rows = (verifiedFields: Field[]) => [
      table([
        time([T]),
        str('device', ['one']),
        ...verifiedFields,
        numf('ENERGY_Total', [1.5]),
        str('signed_message', [M1]),
        str('Signature', [sig1]),
      ]),
    ];
    expect(device(rows([str('verified', ['true']), str('verified', ['true'])]), 'one').status).toBe('untagged');
    expect(device(rows([{ name: 'verified', type: FieldType.boolean, values: [true], config: {} }]), 'one').status).toBe('untagged');
    expect(device(rows([str('verified', ['true'])]), 'one').status).toBe('ok'); // the tag alone
  });

  it('stock table: a device column that may be a field attributes nothing', () => {
    const frames = [
      table([time([T]), str('device', ['one']), str('device_1', ['other']), str('verified', ['true']), numf('ENERGY_Total', [1.5])]),
    ];
    expect(buildTrustOverview(frames)).toEqual({ devices: [], ignoredFrames: 1 });
  });

  it('data source: the series tags win over a column of the same name; a boolean is no tag value', () => {
    const frame = dsFrame(
      results(
        [
          {
            tags: { device: 'one', verified: 'false', verify_status: 'replay' },
            columns: ['time', 'verified', 'verify_status'],
            values: [[T, 'true', 'ok']],
          },
          { tags: { device: 'tie' }, columns: ['time', 'verified', 'verify_status'], values: [[T, true, 'ok']] },
        ],
        [signedRows('one', [[T, 1.5, M1, sig1]]), signedRows('tie', [[T, 1.5, M1, sig1]])],
      ),
    );
    expect(col(frame, 'verdict')).toEqual(['replay', 'untagged']);
    expect(col(frame, 'verified')).toEqual([false, false]);
  });

  it('data source: what InfluxDB answers the statements without ::tag once a field named verified exists', () => {
    // SELECT "verified" reads the field: null on genuine rows, "true" on the forged one; the WHERE clause of
    // statement 1 reads the field too, and finds the forged row, which carries no proof.
    const frame = dsFrame(
      results(
        [lastRows('proofless', [[T, 'true', 'ok']]), lastRows('one', [[T - 1000, null, 'ok']])],
        [signedRows('proofless', [[T, 1.5, null, null]])],
      ),
    );
    expect(col(frame, 'verdict')).toEqual(['untagged', 'unproven']);
    expect(col(frame, 'verified')).toEqual([false, false]);
  });
});
