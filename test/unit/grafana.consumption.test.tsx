// @vitest-environment jsdom
// Verified consumption in Grafana: the data source's statements and frame (datasource/consumption.ts),
// the trust panel's column (proven figure, gap, unproven), and the downloaded statement, which
// core/statement/verify.ts's checkStatement (what `meterproof statement verify` runs) must accept.
import '../harness/fixtures/grafana/jsdomSetup';
import * as React from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { FieldType, LoadingState, type DataFrame, type PanelData, type PanelProps } from '@grafana/data';
import { setDataSourceSrv, type DataSourceSrv } from '@grafana/runtime';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeStatementCrypto } from '../../cli/statement/node-crypto';
import { fingerprint } from '../../cli/keys';
import { parseKeyFile } from '../../core/keyfile';
import { checkStatement } from '../../core/statement/verify';
import type { Statement } from '../../core/statement/format';
import {
  CONSUMPTION_FIELDS,
  consumptionStatement,
  keyFingerprint,
  proveConsumption,
  readAnchors,
  runConsumption,
} from '../../grafana-plugin/datasource/consumption';
import type { InfluxResult } from '../../grafana-plugin/datasource/influxAnswers';
import { consumptionStatements } from '../../grafana-plugin/datasource/statements';
import { trustFrame } from '../../grafana-plugin/datasource/frames';
import { DEFAULT_OPTIONS, type TrustPanelOptions } from '../../grafana-plugin/panel/options';
import { TrustPanel } from '../../grafana-plugin/panel/TrustPanel';
import { deviceKey, sign, trustResults, type FakeDevice } from '../harness/fixtures/grafana/fleetFrames';

const FROM = Date.parse('2024-05-01T10:00:00Z');
const TO = Date.parse('2024-05-01T12:00:00Z');
const RANGE = { fromMs: FROM, toMs: TO };
const COLUMNS = ['time', 'ENERGY_Total', 'signed_message', 'Signature'];

interface Row {
  ms: number;
  message: string;
  signature: string;
  total: number;
}
interface Fixture {
  device: string;
  atFrom?: Row;
  firstAfter?: Row;
  atTo?: Row;
  minStep?: number;
}

/** The four consumption statements' answers, as InfluxDB gives them with `epoch=ms`. */
function results(fixtures: readonly Fixture[]): InfluxResult[] {
  const anchor = (which: 'atFrom' | 'firstAfter' | 'atTo'): InfluxResult => ({
    series: fixtures
      .filter((f) => f[which])
      .map((f) => {
        const r = f[which]!;
        return { name: 'mqtt_consumer', tags: { device: f.device }, columns: COLUMNS, values: [[r.ms, r.total, r.message, r.signature]] };
      }),
  });
  return [
    anchor('atFrom'),
    anchor('firstAfter'),
    anchor('atTo'),
    {
      series: fixtures
        .filter((f) => f.minStep !== undefined)
        .map((f) => ({
          name: 'mqtt_consumer',
          tags: { device: f.device },
          columns: ['time', 'min_difference_ENERGY_Total'],
          values: [[0, f.minStep]],
        })),
    },
  ];
}

let keyListJson = '';
setDataSourceSrv({
  getInstanceSettings: () => ({ type: 'meterproof-trust-datasource', jsonData: { publicKeys: keyListJson } }),
  getList: () => [],
} as unknown as DataSourceSrv);

let fixtures: Fixture[];
let keyA = '';
beforeAll(async () => {
  const [a, oldKey, newKey, d, f] = await Promise.all([deviceKey(11), deviceKey(12), deviceKey(13), deviceKey(14), deviceKey(15)]);
  keyA = a.publicHex;
  keyListJson = JSON.stringify({
    'plug-a': a.publicHex,
    'plug-late': a.publicHex,
    'plug-reset': [
      { key: oldKey.publicHex, not_after: '2024-05-01T11:00:00' },
      { key: newKey.publicHex, not_before: '2024-05-01T11:00:00' },
    ],
    'plug-down': d.publicHex,
    'plug-forged': f.publicHex,
  });
  const row = async (ms: number, time: string, total: string, secret: Uint8Array, signWith = secret): Promise<Row> => {
    const message = `2024-05-01T${time},${total}`;
    return { ms, message, signature: await sign(message, signWith), total: Number(total) };
  };
  fixtures = [
    {
      device: 'plug-a',
      atFrom: await row(FROM - 4_000, '09:59:56', '100.100', a.secret),
      firstAfter: await row(FROM + 6_000, '10:00:06', '100.200', a.secret),
      atTo: await row(TO - 3_000, '11:59:57', '102.300', a.secret),
      minStep: 0.001,
    },
    {
      device: 'plug-reset',
      atFrom: await row(FROM - 1_000, '09:59:59', '50.000', oldKey.secret),
      firstAfter: await row(FROM + 9_000, '10:00:09', '50.010', oldKey.secret),
      atTo: await row(TO - 1_000, '11:59:59', '0.900', newKey.secret),
      minStep: -50.02,
    },
    {
      device: 'plug-down',
      atFrom: await row(FROM - 2_000, '09:59:58', '10.000', d.secret),
      firstAfter: await row(FROM + 8_000, '10:00:08', '10.001', d.secret),
      atTo: await row(TO - 2_000, '11:59:58', '12.000', d.secret),
      minStep: -9.5, // reset to zero and counted past the start again: only the steps show it
    },
    {
      device: 'plug-forged',
      atFrom: await row(FROM - 2_000, '09:59:58', '5.000', f.secret),
      firstAfter: await row(FROM + 8_000, '10:00:08', '5.001', f.secret),
      atTo: await row(TO - 2_000, '11:59:58', '9.000', f.secret, a.secret), // signed by another key
      minStep: 0.001,
    },
    // Only readings after `from`: the start anchor is the first of them.
    {
      device: 'plug-late',
      firstAfter: await row(FROM + 60_000, '10:01:00', '1.000', a.secret),
      atTo: await row(TO - 60_000, '11:59:00', '1.250', a.secret),
    },
  ];
});

describe('consumption statements', () => {
  it('are four cheap selectors, every tag named ::tag and every field ::field', () => {
    const s = consumptionStatements({
      measurement: 'mqtt_consumer',
      totalField: 'ENERGY_Total',
      fromMs: FROM,
      toMs: TO,
      device: 'plug-a',
      filters: [],
    });
    expect(s).toHaveLength(4);
    expect(s[0]).toBe(
      `SELECT /^ENERGY_Total(?:_[0-9]+)?$/, "signed_message"::field, "Signature"::field FROM "mqtt_consumer" WHERE time <= ${FROM}ms AND ` +
        `"verified"::tag = 'true' AND "verify_status"::tag = 'ok' AND "device"::tag =~ /^(?:plug-a)$/ GROUP BY "device"::tag ORDER BY time DESC LIMIT 1`,
    );
    expect(s[1]).toContain(`time > ${FROM}ms AND time <= ${TO}ms`);
    expect(s[1]).toContain('ORDER BY time ASC LIMIT 1');
    expect(s[2]).toContain(`WHERE time <= ${TO}ms AND`);
    expect(s[3]).toMatch(/^SELECT min\(\*\) FROM \(SELECT difference\(\/\^ENERGY_Total.*GROUP BY "device"::tag\) GROUP BY "device"::tag$/);
    for (const text of s) expect(text).not.toMatch(/"(device|verified|verify_status)"(?!::tag)/);
  });
});

describe('consumption frame and proof', () => {
  it('one row per device: proven kWh as a number, gaps, the anchors signed Time and Total, stored times', async () => {
    const frame = await runConsumption(
      results(fixtures),
      { totalField: 'ENERGY_Total', range: RANGE, keys: parseKeyFile(keyListJson), database: 'telegraf', measurement: 'mqtt_consumer' },
      'A',
      'q',
    );
    const col = (name: string) => frame.fields.find((f) => f.name === name)!.values;
    const F = CONSUMPTION_FIELDS;
    expect(frame.length).toBe(5);
    expect(col(F.device)).toEqual(['plug-a', 'plug-down', 'plug-forged', 'plug-late', 'plug-reset']);
    expect(col(F.status)).toEqual(['proven', 'gap', 'unproven', 'proven', 'gap']);
    expect(col(F.kwh)).toEqual([2.2, null, null, 0.25, null]);
    expect(col(F.kwhText)).toEqual(['2.200', null, null, '0.250', null]);
    expect(frame.fields.find((f) => f.name === F.kwh)!.type).toBe(FieldType.number);
    expect(col(F.gaps)).toEqual([1, 2, 1, 2, 2]);
    expect(col(F.startSignedTime)[0]).toBe('2024-05-01T09:59:56');
    expect(col(F.startSignedTotal)[0]).toBe('100.100');
    expect(col(F.startStored)[0]).toBe(FROM - 4_000);
    expect(col(F.endSignedTime)[0]).toBe('2024-05-01T11:59:57');
    expect(col(F.endSignedTotal)[0]).toBe('102.300');
    expect(col(F.endStored)[0]).toBe(TO - 3_000);
    expect(col(F.reason)[4]).toContain('different keys');
    expect(col(F.reason)[1]).toContain('went down');
    expect(col(F.reason)[2]).toContain('end anchor');
    expect(frame.meta?.custom).toMatchObject({ meterproof: 'verified-consumption', fromMs: FROM, toMs: TO });
  });

  it('computes in exact decimal, and without keys proves nothing', async () => {
    const [a] = readAnchors(results(fixtures), 'ENERGY_Total');
    // 102.3 - 100.1 is 2.1999999999999886 in floats.
    expect((await proveConsumption(a!, RANGE, parseKeyFile(keyListJson))).kwhText).toBe('2.200');
    expect(await proveConsumption(a!, RANGE, undefined)).toMatchObject({
      status: 'unproven',
      reason: expect.stringContaining('no public keys'),
    });
    expect(await keyFingerprint(keyA)).toBe(fingerprint(keyA));
  });

  it('makes a statement that checkStatement accepts, and one edited that it refuses', async () => {
    const keys = parseKeyFile(keyListJson);
    for (const f of readAnchors(results(fixtures), 'ENERGY_Total').filter((d) => ['plug-a', 'plug-late'].includes(d.device))) {
      const c = await proveConsumption(f, RANGE, keys);
      const s = (await consumptionStatement(c, RANGE, { database: 'telegraf', measurement: 'mqtt_consumer' }))!;
      const check = await checkStatement(JSON.parse(JSON.stringify(s)), nodeStatementCrypto(), keys);
      expect(check.problems).toEqual([]);
      const edited = { ...s, consumption_kwh_text: '9.999', consumption_kwh: 9.999 };
      expect((await checkStatement(edited, nodeStatementCrypto(), keys)).problems).not.toEqual([]);
    }
  });
});

// ---- the panel ----

let root: Root | undefined;
let host: HTMLDivElement;
afterEach(() => {
  act(() => root?.unmount());
  host?.remove();
  root = undefined;
});

async function render(series: DataFrame[]): Promise<HTMLDivElement> {
  host = document.createElement('div');
  document.body.appendChild(host);
  const props = {
    data: {
      state: LoadingState.Done,
      series,
      timeRange: {},
      request: { targets: [{ refId: 'A', datasource: { uid: 'mp' } }] } as PanelData['request'],
    },
    options: { ...DEFAULT_OPTIONS } as TrustPanelOptions,
    width: 1400,
    height: 420,
  } as unknown as PanelProps<TrustPanelOptions>;
  await act(async () => {
    root = createRoot(host);
    root.render(<TrustPanel {...props} />);
  });
  return host;
}

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !until(); i++) await act(() => new Promise((r) => setTimeout(r, 20)));
}

const cellOf = (el: HTMLElement, device: string) => el.querySelector<HTMLElement>(`[data-device="${device}"] [data-consumption]`);

describe('TrustPanel: proven consumption', () => {
  it('shows the proven figure with a statement to download, gap and unproven', async () => {
    const trust = trustFrame(
      trustResults(
        fixtures.map((f): FakeDevice => ({
          device: f.device,
          status: 'ok',
          lastSeen: f.atTo!.ms,
          signedAt: f.atTo!.ms,
          values: [f.atTo!.total],
          message: f.atTo!.message,
          signature: f.atTo!.signature,
          counts: { ok: 10 },
        })),
      ),
      'ENERGY_Total',
      'A',
      '',
    );
    // The data source proved nothing (it had no keys): the panel proves with its own registry.
    const consumption = await runConsumption(
      results(fixtures),
      { totalField: 'ENERGY_Total', range: RANGE, keys: undefined, database: 'telegraf', measurement: 'mqtt_consumer' },
      'B',
      '',
    );
    const el = await render([trust, consumption]);
    await settle(() => fixtures.every((f) => cellOf(el, f.device) !== null));
    expect([...el.querySelectorAll('[role=columnheader]')].map((h) => h.textContent)).toContain('Proven consumption');
    expect(el.querySelectorAll('[role=row][data-device]')).toHaveLength(5); // the consumption frame adds no device rows
    expect(cellOf(el, 'plug-a')!.dataset.consumption).toBe('proven');
    expect(cellOf(el, 'plug-a')!.textContent).toBe('2.200 kWhstatement');
    expect(cellOf(el, 'plug-late')!.textContent).toContain('0.250 kWh');
    expect(cellOf(el, 'plug-reset')!.dataset.consumption).toBe('gap');
    expect(cellOf(el, 'plug-reset')!.textContent).toContain('gap');
    expect(cellOf(el, 'plug-down')!.dataset.consumption).toBe('gap');
    expect(cellOf(el, 'plug-forged')!.dataset.consumption).toBe('unproven');
    expect(cellOf(el, 'plug-forged')!.textContent).not.toMatch(/kWh/);
    expect(cellOf(el, 'plug-forged')!.title).toContain('does not verify');

    const link = cellOf(el, 'plug-a')!.querySelector('a')!;
    expect(link.getAttribute('download')).toBe('statement-plug-a.json');
    const prefix = 'data:application/json;charset=utf-8,';
    expect(link.getAttribute('href')!.startsWith(prefix)).toBe(true);
    const downloaded = JSON.parse(decodeURIComponent(link.getAttribute('href')!.slice(prefix.length))) as Statement;
    expect(downloaded).toMatchObject({
      format: 'meterproof-statement/1',
      device: 'plug-a',
      from: '2024-05-01T10:00:00Z',
      to: '2024-05-01T12:00:00Z',
      consumption_kwh_text: '2.200',
      consumption_kwh: 2.2,
    });
    expect(downloaded.segments[0]).toMatchObject({
      public_key: keyA,
      fingerprint: fingerprint(keyA),
      start: { signed_time: '2024-05-01T09:59:56', signed_total: '100.100', stored_time: '2024-05-01T09:59:56Z' },
      end: { signed_time: '2024-05-01T11:59:57', signed_total: '102.300' },
    });
    expect((await checkStatement(downloaded, nodeStatementCrypto(), parseKeyFile(keyListJson))).problems).toEqual([]);
    expect((await checkStatement(downloaded, nodeStatementCrypto())).problems).toEqual([]);
    expect(cellOf(el, 'plug-reset')!.querySelector('a')).toBeNull();
  });

  it('has no consumption column without a consumption query', async () => {
    const el = await render([trustFrame(trustResults([]), 'ENERGY_Total', 'A', '')]);
    expect(el.textContent).not.toContain('Proven consumption');
  });
});
