// @vitest-environment jsdom
// The trust panel re-checks the rows on screen first: the table (VirtualRows) tells the re-check which
// rows it shows, also after a scroll, so rows scrolled to are checked before the thousands above them.
import '../harness/fixtures/grafana/jsdomSetup';
import { sign } from 'node:crypto';
import * as React from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { LoadingState, type PanelProps } from '@grafana/data';
import { setDataSourceSrv, type DataSourceSrv } from '@grafana/runtime';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { useSubtleForTests } from '../../grafana-plugin/panel/cryptoEngine';
import { DEFAULT_OPTIONS, type TrustPanelOptions } from '../../grafana-plugin/panel/options';
import { TrustPanel } from '../../grafana-plugin/panel/TrustPanel';
import { trustFrame } from '../../grafana-plugin/datasource/frames';
import { trustResults, type FakeDevice } from '../harness/fixtures/grafana/fleetFrames';
import { deviceKey } from '../../sim/plug';

const N = 2_000;
const NOW = Date.now();
// A key per device, as fleets have, and strict noble as the engine: each key is admitted when its row is
// first checked (about a millisecond in JavaScript), so the rows above take seconds and cannot all be done
// by the time the scroll is checked.
// From seeds (sim/plug.ts): generateKeyPairSync with a JWK export, thousands of times, can deadlock Node 20.
const fleetKeys = Array.from({ length: N }, (_, i) => deviceKey('inview', String(i)));
const hexOf = (k: (typeof fleetKeys)[number]) => k.publicKeyHex;
const fleet: FakeDevice[] = fleetKeys.map((key, i) => {
  const message = `2024-05-01T10:00:00,${(i + 0.5).toFixed(3)}`;
  return {
    device: `plug-${String(i).padStart(4, '0')}`,
    status: 'ok',
    lastSeen: NOW - 1000,
    signedAt: NOW - 1000,
    values: [i + 0.5],
    message,
    signature: sign(null, Buffer.from(message), key.privateKey).toString('hex'),
    counts: { ok: 1 },
  };
});
const keyList = JSON.stringify(Object.fromEntries(fleet.map((d, i) => [d.device, hexOf(fleetKeys[i]!)])));
const settings = { type: 'meterproof-trust-datasource', jsonData: { publicKeys: keyList } };
setDataSourceSrv({ getInstanceSettings: () => settings, getList: () => [settings] } as unknown as DataSourceSrv);

let root: Root | undefined;
beforeEach(() => useSubtleForTests(null));
afterEach(() => {
  act(() => root?.unmount());
  useSubtleForTests(undefined);
  settings.jsonData.publicKeys = keyList;
});

const rows = (el: HTMLElement) => [...el.querySelectorAll<HTMLElement>('[role=row][data-device]')];
const checking = (row: HTMLElement) => row.textContent!.includes('checking…');

it('re-checks the rows scrolled to before the rows above them', { timeout: 30_000 }, async () => {
  const host = document.body.appendChild(document.createElement('div'));
  const props = {
    data: { state: LoadingState.Done, series: [trustFrame(trustResults(fleet), 'ENERGY_Total', 'A', '')], timeRange: {} },
    options: { ...DEFAULT_OPTIONS, recheck: true },
    width: 1100,
    height: 420,
  } as unknown as PanelProps<TrustPanelOptions>;
  await act(async () => {
    root = createRoot(host);
    root.render(<TrustPanel {...props} />);
  });
  const table = host.querySelector<HTMLElement>('[role=table]')!;
  act(() => {
    table.scrollTop = N * 34;
    table.dispatchEvent(new Event('scroll'));
  });
  const bottom = rows(host);
  expect(bottom.at(-1)!.dataset.device).toBe(`plug-${N - 1}`);
  const until = Date.now() + 20_000;
  while (Date.now() < until && bottom.some((r) => checking(r))) await act(() => new Promise((r) => setTimeout(r, 5)));
  expect(rows(host).filter(checking)).toEqual([]);
  // Most of the fleet above is still waiting: checked in order, these rows would have come last.
  act(() => {
    table.scrollTop = 0;
    table.dispatchEvent(new Event('scroll'));
  });
  expect(rows(host)[0]!.dataset.device).toBe('plug-0000');
  expect(rows(host).filter(checking).length).toBeGreaterThan(0);
});

it('shows no outcome of a revoked key while the row is checked again under the new key list', { timeout: 30_000 }, async () => {
  const few = fleet.slice(0, 40);
  const listed = (keyOf: (i: number) => string) => JSON.stringify(Object.fromEntries(few.map((d, i) => [d.device, keyOf(i)])));
  settings.jsonData.publicKeys = listed((i) => hexOf(fleetKeys[i]!));
  const host = document.body.appendChild(document.createElement('div'));
  // A new request each time, as each dashboard refresh brings: the panel looks up its key list again.
  const panel = () => (
    <TrustPanel
      {...({
        data: {
          state: LoadingState.Done,
          series: [trustFrame(trustResults(few), 'ENERGY_Total', 'A', '')],
          timeRange: {},
          request: { targets: [] },
        },
        options: { ...DEFAULT_OPTIONS, recheck: true },
        width: 1100,
        height: 2000,
      } as unknown as PanelProps<TrustPanelOptions>)}
    />
  );
  const first = () => rows(host).find((r) => r.dataset.device === 'plug-0000')!;
  const settle = async (done: () => boolean) => {
    const until = Date.now() + 20_000;
    while (Date.now() < until && !done()) await act(() => new Promise((r) => setTimeout(r, 5)));
  };
  await act(async () => {
    root = createRoot(host);
    root.render(panel());
  });
  await settle(() => rows(host).length === few.length && !rows(host).some(checking));
  expect(first().textContent).toContain('re-checked in your browser');

  // plug-0000's key is revoked: the list now names another key for it, under which its reading fails.
  settings.jsonData.publicKeys = listed((i) => hexOf(fleetKeys[i === 0 ? 1 : i]!));
  act(() => root!.render(panel()));
  expect(first().textContent).not.toContain('re-checked in your browser');
  await settle(() => !checking(first()));
  expect(first().textContent).toContain('differs: signature fails here');
});
