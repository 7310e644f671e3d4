// @vitest-environment jsdom
// The trust panel: frames from both data sources to per-device records, the browser re-check, and
// what is rendered (badges, states, sorting, filtering, 2,000 devices in bounded DOM).
import '../harness/fixtures/grafana/jsdomSetup';
import * as React from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { FieldType, LoadingState, type DataFrame, type PanelData, type PanelProps } from '@grafana/data';
import { setDataSourceSrv, type DataSourceSrv } from '@grafana/runtime';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../core/keyfile';
import { buildTrustOverview } from '../../grafana-plugin/panel/deviceTrust';
import { DEFAULT_OPTIONS, type TrustPanelOptions } from '../../grafana-plugin/panel/options';
import { recheck } from '../../grafana-plugin/panel/recheck';
import { TrustPanel } from '../../grafana-plugin/panel/TrustPanel';
import { trustFrame } from '../../grafana-plugin/datasource/frames';
import { deviceKey, sign, trustResults, type FakeDevice } from '../harness/fixtures/grafana/fleetFrames';

const trustFrameOf = (devices: readonly FakeDevice[]): DataFrame => trustFrame(trustResults(devices), 'ENERGY_Total', 'A', '');

const NOW = Date.now();
let keyListJson = '';
setDataSourceSrv({
  getInstanceSettings: () => ({ type: 'meterproof-trust-datasource', jsonData: { publicKeys: keyListJson } }),
  getList: () => [],
} as unknown as DataSourceSrv);

/** A small set of plugs: genuine, three-phase, tampered after verification, failing, never verified. */
let plugs: FakeDevice[];
beforeAll(async () => {
  const [k1, k2, k3] = await Promise.all([deviceKey(1), deviceKey(2), deviceKey(3)]);
  keyListJson = JSON.stringify({ 'plug-1': k1.publicHex, 'plug-3ph': k2.publicHex, 'plug-edited': k3.publicHex });
  const m1 = '2024-05-01T10:00:00,1.500';
  const m3 = '2024-05-01T10:00:00,[1201.500,980.250,1110.000]';
  const me = '2024-05-01T10:00:00,7.250';
  plugs = [
    {
      device: 'plug-1',
      status: 'ok',
      lastSeen: NOW - 60_000,
      signedAt: NOW - 60_000,
      values: [1.5],
      message: m1,
      signature: await sign(m1, k1.secret),
      counts: { ok: 10 },
    },
    {
      device: 'plug-3ph',
      status: 'ok',
      lastSeen: NOW - 30_000,
      signedAt: NOW - 30_000,
      values: [1201.5, 980.25, 1110],
      message: m3,
      signature: await sign(m3, k2.secret),
      counts: { ok: 4 },
    },
    // Stored as verified, but its Total was edited in the database afterwards.
    {
      device: 'plug-edited',
      status: 'ok',
      lastSeen: NOW - 10_000,
      signedAt: NOW - 10_000,
      values: [9.25],
      message: me,
      signature: await sign(me, k3.secret),
      counts: { ok: 3 },
    },
    {
      device: 'plug-forged',
      status: 'bad_signature',
      lastSeen: NOW - 5_000,
      signedAt: NOW - 7_200_000,
      values: [3],
      message: m1,
      signature: await sign(m1, k1.secret),
      counts: { ok: 1, bad_signature: 3 },
    },
    { device: 'plug-unknown', status: 'unknown_device', lastSeen: NOW - 5_000, counts: { unknown_device: 5 } },
  ];
});

describe('buildTrustOverview', () => {
  it('reads the data source trust frame', () => {
    const { devices, ignoredFrames } = buildTrustOverview([trustFrameOf(plugs)]);
    expect(ignoredFrames).toBe(0);
    const byName = Object.fromEntries(devices.map((d) => [d.device, d]));
    expect(byName['plug-3ph']!.signed!.values).toEqual([1201.5, 980.25, 1110]);
    expect(byName['plug-forged']).toMatchObject({
      status: 'bad_signature',
      readings: 4,
      verifiedReadings: 1,
      counts: { ok: 1, bad_signature: 3 },
    });
    expect(byName['plug-unknown']!.signed).toBeUndefined();
  });

  it('reads stock InfluxDB time series grouped by device and verified', () => {
    const series = (device: string, verified: string, points: Array<[number, number]>, name = 'Value'): DataFrame => ({
      name: `mqtt_consumer.last {device: ${device}, verified: ${verified}}`,
      length: points.length,
      fields: [
        { name: 'Time', type: FieldType.time, values: points.map((p) => p[0]), config: {} },
        { name, type: FieldType.number, values: points.map((p) => p[1]), config: {}, labels: { device, verified } },
      ],
    });
    const { devices } = buildTrustOverview([
      series('a', 'true', [
        [1000, 1.5],
        [2000, 1.6],
      ]),
      series('a', 'false', [[3000, 1.9]]),
      series('b', 'true', [[1000, 10]], 'last_ENERGY_Total_0'),
      series('b', 'true', [[1000, 20]], 'last_ENERGY_Total_1'),
    ]);
    const [a, b] = devices;
    expect(a).toMatchObject({ device: 'a', status: 'not_verified', lastSeen: 3000, signedAt: 2000, readings: 3, verifiedReadings: 2 });
    expect(a!.signed!.values).toEqual([1.6]);
    expect(b).toMatchObject({ device: 'b', status: 'ok', signedAt: 1000 });
    expect(b!.signed!.values).toEqual([10, 20]);
  });

  it('reads stock InfluxDB tables with verify_status and signed_message columns', () => {
    const table: DataFrame = {
      length: 3,
      fields: [
        { name: 'Time', type: FieldType.time, values: [1000, 2000, 3000], config: {} },
        { name: 'device', type: FieldType.string, values: ['a', 'a', 'c'], config: {} },
        { name: 'verified', type: FieldType.string, values: ['true', 'false', 'false'], config: {} },
        { name: 'verify_status', type: FieldType.string, values: ['ok', 'replay', 'unsigned'], config: {} },
        { name: 'ENERGY_Total', type: FieldType.number, values: [1.5, 1.5, 4], config: {} },
        { name: 'signed_message', type: FieldType.string, values: ['2024-05-01T10:00:00,1.500', null, null], config: {} },
        { name: 'Signature', type: FieldType.string, values: ['ab', null, null], config: {} },
      ],
    };
    const noTags: DataFrame = { length: 1, fields: [{ name: 'Value', type: FieldType.number, values: [1], config: {} }] };
    const { devices, ignoredFrames } = buildTrustOverview([table, noTags]);
    expect(ignoredFrames).toBe(1);
    expect(devices[0]).toMatchObject({
      device: 'a',
      status: 'replay',
      counts: { ok: 1, replay: 1 },
      signed: { values: [1.5], message: '2024-05-01T10:00:00,1.500', signature: 'ab' },
    });
    expect(devices[1]).toMatchObject({ device: 'c', status: 'unsigned' });
    expect(devices[1]!.signed).toBeUndefined();
  });
});

describe('recheck', () => {
  it('agrees with genuine rows and shows where it differs', async () => {
    const keys = parseKeyFile(keyListJson);
    const check = (d: FakeDevice, values = d.values!) =>
      recheck({ device: d.device, message: d.message!, signature: d.signature!, values }, keys);
    const [one, three, edited, forged] = plugs;
    expect(await check(one!)).toEqual({ kind: 'verified' });
    expect(await check(three!)).toEqual({ kind: 'verified' });
    expect(await check(edited!)).toEqual({ kind: 'total_mismatch', detail: 'signed 7.250, stored 9.25' });
    expect(await check(one!, [1.5000001])).toMatchObject({ kind: 'total_mismatch' });
    // plug-1's message and signature moved to another device: its key does not verify them.
    expect(await recheck({ device: 'plug-3ph', message: forged!.message!, signature: forged!.signature!, values: [1.5] }, keys)).toEqual({
      kind: 'bad_signature',
    });
    expect(await recheck({ device: 'nobody', message: one!.message!, signature: one!.signature!, values: [1.5] }, keys)).toEqual({
      kind: 'no_key',
    });
    expect(
      await recheck({ device: 'plug-1', message: '2024-05-01 10:00,1.5', signature: one!.signature!, values: [1.5] }, keys),
    ).toMatchObject({ kind: 'malformed' });
    expect(await recheck({ device: 'plug-1', message: one!.message!, signature: 'zz', values: [1.5] }, keys)).toMatchObject({
      kind: 'malformed',
    });
  });

  it('uses only keys valid at the signed time', async () => {
    const { publicHex } = await deviceKey(1);
    const expired = parseKeyFile(JSON.stringify({ 'plug-1': [{ key: publicHex, not_after: '2024-04-30' }] }));
    const [one] = plugs;
    expect(await recheck({ device: 'plug-1', message: one!.message!, signature: one!.signature!, values: [1.5] }, expired)).toEqual({
      kind: 'no_key',
    });
  });
});

// ---- rendering ----

let root: Root | undefined;
let host: HTMLDivElement;
afterEach(() => {
  act(() => root?.unmount());
  host?.remove();
  root = undefined;
});

async function render(
  data: Partial<PanelData>,
  options: Partial<TrustPanelOptions> = {},
  size = { width: 1100, height: 420 },
): Promise<HTMLDivElement> {
  host = document.createElement('div');
  document.body.appendChild(host);
  const props = {
    data: { state: LoadingState.Done, series: [], timeRange: {}, ...data },
    options: { ...DEFAULT_OPTIONS, ...options },
    ...size,
  } as unknown as PanelProps<TrustPanelOptions>;
  await act(async () => {
    root = createRoot(host);
    root.render(<TrustPanel {...props} />);
  });
  return host;
}

/** Lets the sliced re-check finish (it yields with setTimeout between slices). */
async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !until(); i++) await act(() => new Promise((r) => setTimeout(r, 20)));
}

/** The group filter's button (a Grafana UI RadioButtonGroup: a radio input and its label). */
const groupButton = (el: HTMLElement, label: string) =>
  [...el.querySelectorAll<HTMLLabelElement>('[aria-label=Show] [role=radiogroup] label')].find((l) => l.textContent!.startsWith(label))!;
const rowsOf = (el: HTMLElement) => [...el.querySelectorAll<HTMLElement>('[role=row][data-device]')];
const rowText = (el: HTMLElement, device: string) => el.querySelector(`[data-device="${device}"]`)?.textContent ?? '';

describe('TrustPanel', () => {
  it('shows loading, error and empty states plainly', async () => {
    expect((await render({ state: LoadingState.Loading })).querySelector('[role=status]')!.textContent).toBe('Loading trust data…');
    act(() => root!.unmount());
    const err = await render({ state: LoadingState.Error, errors: [{ message: 'InfluxDB refused the credentials (HTTP 401)' }] });
    expect(err.querySelector('[role=alert]')!.textContent).toContain('InfluxDB refused the credentials');
    act(() => root!.unmount());
    const empty = await render({ series: [{ length: 1, fields: [{ name: 'Value', type: FieldType.number, values: [1], config: {} }] }] });
    expect(empty.textContent).toContain('No readings in this time range');
    expect(empty.textContent).toContain('group an InfluxDB query by "device" and "verified"');
  });

  it('renders badges with words, totals as signed, freshness, share and the browser re-check', async () => {
    const el = await render({
      series: [trustFrameOf(plugs)],
      request: { targets: [{ refId: 'A', datasource: { uid: 'mp' } }] } as PanelData['request'],
    });
    await settle(() => !el.textContent!.includes('checking…'));
    expect(rowText(el, 'plug-1')).toMatch(/✓verified1\.500 kWh\d+ s ago.*100 %.*none✓re-checked in your browser/);
    expect(rowText(el, 'plug-3ph')).toContain('1201.500 / 980.250 / 1110.000 kWh');
    expect(rowText(el, 'plug-edited')).toContain('⚠differs: total changed');
    expect(rowText(el, 'plug-forged')).toMatch(/✗bad signature.*2 h ago.*stale.*25 %.*bad signature 3.*no key to re-check/);
    expect(rowText(el, 'plug-unknown')).toMatch(/!unknown device.*none in range.*stale.*nothing signed/);
    // plug-edited is stored as verified, but the browser disproves it: not "verified now".
    expect(el.querySelector('[aria-label=Summary]')!.textContent).toBe(
      '5 devices · 2 verified now · 2 failing · 2 stale · 1 differ in browser',
    );
  });

  it('sorts by column and filters by name and group', async () => {
    const el = await render({ series: [trustFrameOf(plugs)] }, { recheck: false });
    const order = () => rowsOf(el).map((r) => r.dataset.device);
    expect(order().slice(0, 2)).toEqual(['plug-forged', 'plug-unknown']); // worst verdict first
    const header = (label: string) =>
      [...el.querySelectorAll<HTMLElement>('[role=columnheader]')].find((h) => h.textContent?.startsWith(label))!;
    act(() => header('Device').click());
    expect(order()).toEqual(['plug-1', 'plug-3ph', 'plug-edited', 'plug-forged', 'plug-unknown']);
    expect(header('Device').getAttribute('aria-sort')).toBe('ascending');
    act(() => header('Device').click());
    expect(order()[0]).toBe('plug-unknown');

    const input = el.querySelector<HTMLInputElement>('[aria-label="Filter devices"]')!;
    act(() => {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, '3PH');
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    expect(order()).toEqual(['plug-3ph']);
    act(() => {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, '');
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    act(() => groupButton(el, 'Stale').click());
    expect(order().sort()).toEqual(['plug-forged', 'plug-unknown']);
    expect((groupButton(el, 'Stale').control as HTMLInputElement).checked).toBe(true);
    act(() => {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, 'zzz');
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    expect(el.textContent).toContain('No device matches the filter');
  });

  it('keeps 2,000 devices in a bounded DOM and scrolls to the last one', async () => {
    const many: FakeDevice[] = Array.from({ length: 2000 }, (_, i) => ({
      device: `plug-${String(i).padStart(4, '0')}`,
      status: i % 50 === 0 ? 'bad_signature' : 'ok',
      lastSeen: NOW - i * 1000,
      signedAt: NOW - i * 1000,
      values: [i + 0.5],
      // A verified row carries its proof (re-checks are off here, so the signature is only present).
      message: `2024-05-01T10:00:00,${(i + 0.5).toFixed(3)}`,
      signature: 'ab'.repeat(64),
      counts: { ok: 100 },
    }));
    const started = performance.now();
    const el = await render({ series: [trustFrameOf(many)] }, { recheck: false });
    const elapsed = performance.now() - started;
    expect(el.querySelector('[aria-label=Summary]')!.textContent).toMatch(/^2000 devices · 1960 verified now · 40 failing/);
    expect(rowsOf(el).length).toBeLessThanOrEqual(30);
    expect(elapsed).toBeLessThan(2000);
    const body = el.querySelector<HTMLElement>('[role=table]')!;
    act(() => {
      body.scrollTop = 2000 * 34;
      body.dispatchEvent(new Event('scroll'));
    });
    expect(rowsOf(el).length).toBeLessThanOrEqual(30);
    // Worst first (failing, then stale: no verified reading for 15 minutes), then by name: the last row
    // is the last healthy plug that is not stale (about plug-0899, as the clock moved on since NOW).
    const last = rowsOf(el).at(-1)!;
    expect(last.dataset.device).toMatch(/^plug-08[0-9][0-9]$/);
    expect(last.textContent).toMatch(/^plug-\d+✓verified.* ago 100 %/);
    expect(last.textContent).not.toContain('stale');
  });
});
