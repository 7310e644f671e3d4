// @vitest-environment jsdom
// The trust panel fed by Grafana's built-in InfluxDB data source (issue 15, item 4): frames shaped as
// Grafana's backend makes them (test/harness/fixtures/grafana/stockFrames.ts, after its InfluxQL
// converter), so that a three-phase meter shows its three phases whatever the naming of the series.
import '../harness/fixtures/grafana/jsdomSetup';
import * as React from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { FieldType, LoadingState, type DataFrame, type PanelProps } from '@grafana/data';
import { setDataSourceSrv, type DataSourceSrv } from '@grafana/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTrustOverview, type DeviceTrust } from '../../grafana-plugin/panel/deviceTrust';
import { DEFAULT_OPTIONS, type TrustPanelOptions } from '../../grafana-plugin/panel/options';
import { TrustPanel } from '../../grafana-plugin/panel/TrustPanel';
import { frameName, stockFrames, type StockQuery, type StockSeries } from '../harness/fixtures/grafana/stockFrames';

setDataSourceSrv({ getInstanceSettings: () => undefined, getList: () => [] } as unknown as DataSourceSrv);

const T1 = Date.now() - 120_000;
const T2 = Date.now() - 60_000;
const COLUMNS = ['time', 'last_ENERGY_Total', 'last_ENERGY_Total_0', 'last_ENERGY_Total_1', 'last_ENERGY_Total_2'];
const tags = (device: string, verified: string, status: string) => ({ device, verified, verify_status: status });

/**
 * What InfluxDB answers the README's stock query, `SELECT last(/^ENERGY_Total(_[0-9]+)?$/) … GROUP BY
 * time($__interval), "device"::tag, "verified"::tag, "verify_status"::tag fill(none)`: every series has a
 * column per Total field of the measurement, null where a meter has no such field.
 */
const ANSWER: StockSeries[] = [
  {
    name: 'mqtt_consumer',
    tags: tags('kitchen.fridge', 'true', 'ok'),
    columns: COLUMNS,
    values: [
      [T1, 1.4, null, null, null],
      [T2, 1.5, null, null, null],
    ],
  },
  {
    name: 'mqtt_consumer',
    tags: tags('workshop 3phase', 'false', 'replay'),
    columns: COLUMNS,
    values: [[T1 - 60_000, null, 1201, 980, 1109]],
  },
  {
    name: 'mqtt_consumer',
    tags: tags('workshop 3phase', 'true', 'ok'),
    columns: COLUMNS,
    values: [
      [T1, null, 1201.4, 980.2, 1109.9],
      [T2, null, 1201.5, 980.25, 1110],
    ],
  },
];

const device = (frames: DataFrame[], name: string): DeviceTrust => buildTrustOverview(frames).devices.find((d) => d.device === name)!;

describe('the stock InfluxDB data source, frames as its backend makes them', () => {
  it('the fixture names series as Grafana does', () => {
    const t = tags('a', 'true', 'ok');
    expect(frameName('mqtt_consumer', 'last_ENERGY_Total_0', t, {})).toBe(
      'mqtt_consumer.last_ENERGY_Total_0 { device: a, verified: true, verify_status: ok }',
    );
    expect(frameName('mqtt_consumer', 'last_ENERGY_Total_0', t, { alias: '$tag_device $col' })).toBe('a last_ENERGY_Total_0');
    expect(frameName('m.x', 'c', t, { alias: '[[tag_verified]] $1 $m $tag_nope' })).toBe('true x m.x $tag_nope');
    const [first] = stockFrames(ANSWER);
    expect(first!.fields.map((f) => [f.name, f.type, f.labels])).toEqual([
      ['Time', FieldType.time, undefined],
      ['Value', FieldType.number, tags('kitchen.fridge', 'true', 'ok')],
    ]);
    expect(stockFrames(ANSWER)).toHaveLength(3 * 4);
    expect(stockFrames(ANSWER, { resultFormat: 'table' })[0]!.fields.map((f) => f.name)).toEqual([
      'Time',
      'device',
      'verified',
      'verify_status',
      ...COLUMNS.slice(1),
    ]);
  });

  const naming: Array<[string, StockQuery]> = [
    ['default names', {}],
    ['default names, tags in another order', { tagOrder: 'reversed' }],
    ['names before Grafana 10 (tags separated by spaces)', { separator: ' ' }],
    ['alias $tag_device $col (the shipped dashboard)', { alias: '$tag_device $col' }],
    ['alias $col', { alias: '$col' }],
    ['alias [[m]].[[col]] [[tag_verify_status]]', { alias: '[[m]].[[col]] [[tag_verify_status]]' }],
    ['table format', { resultFormat: 'table' }],
  ];

  it.each(naming)('a three-phase meter shows its three phases: %s', (_, q) => {
    const frames = stockFrames(ANSWER, q);
    expect(device(frames, 'workshop 3phase')).toMatchObject({
      status: 'ok',
      signedAt: T2,
      signed: { values: [1201.5, 980.25, 1110] },
      // Each reading once, not once per phase.
      readings: 3,
      verifiedReadings: 2,
      counts: { ok: 2, replay: 1 },
    });
    expect(device(frames, 'kitchen.fridge')).toMatchObject({ status: 'ok', signed: { values: [1.5] }, readings: 2 });
  });

  it('a name that tells no phase proves nothing for a three-phase meter (alias without $col)', () => {
    const frames = stockFrames(ANSWER, { alias: '$tag_device' });
    expect(device(frames, 'workshop 3phase')).toMatchObject({ status: 'unproven' });
    expect(device(frames, 'workshop 3phase').signed).toBeUndefined();
    expect(device(frames, 'kitchen.fridge')).toMatchObject({ status: 'ok', signed: { values: [1.5] } });
  });

  it('a tag value that looks like a Total column is not taken for the column', () => {
    const answer: StockSeries[] = [{ ...ANSWER[2]!, tags: tags('hall ENERGY_Total_2 }', 'true', 'ok') }];
    expect(device(stockFrames(answer), 'hall ENERGY_Total_2 }')).toMatchObject({
      status: 'ok',
      signed: { values: [1201.5, 980.25, 1110] },
    });
    // In an alias, a device name holding a second Total column makes the phase unknown: unproven, not wrong.
    expect(device(stockFrames(answer, { alias: '$tag_device $col' }), 'hall ENERGY_Total_2 }').status).toBe('unproven');
  });

  it('other columns (power, string fields) never stand in for a phase', () => {
    const answer: StockSeries[] = [
      {
        name: 'mqtt_consumer',
        tags: tags('p', 'true', 'ok'),
        columns: ['time', 'last_ENERGY_Power', 'last_ENERGY_Total_0', 'last_ENERGY_Total_1', 'last_Time'],
        values: [[T2, 230, 5, 6, '2024-05-01T10:00:00']],
      },
    ];
    for (const q of [{}, { alias: '$tag_device $col' }]) {
      expect(device(stockFrames(answer, q), 'p')).toMatchObject({ status: 'ok', signed: { values: [5, 6] }, readings: 1 });
    }
  });
});

// ---- rendered ----

let root: Root | undefined;
let host: HTMLDivElement | undefined;
afterEach(() => {
  act(() => root?.unmount());
  host?.remove();
  root = host = undefined;
});

it('the panel shows the three phases of the shipped dashboard query, said to be as stored', async () => {
  host = document.createElement('div');
  document.body.appendChild(host);
  const props = {
    data: { state: LoadingState.Done, series: stockFrames(ANSWER, { alias: '$tag_device $col' }), timeRange: {} },
    options: DEFAULT_OPTIONS,
    width: 1100,
    height: 300,
  } as unknown as PanelProps<TrustPanelOptions>;
  await act(async () => {
    root = createRoot(host!);
    root.render(<TrustPanel {...props} />);
  });
  const row = host.querySelector('[data-device="workshop 3phase"]')!.textContent;
  expect(row).toMatch(/^workshop 3phase✓verified1201\.5 \/ 980\.25 \/ 1110 kWh\(as stored\)/);
  expect(row).toMatch(/66\.7 %.*replay 1/);
});
