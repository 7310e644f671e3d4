// @vitest-environment jsdom
// Honest badges, the panel's part (issue 15, item 3): what needs attention sorts first (a row the browser
// disproves, a device gone silent), the header scrolls with the rows, 0 % is no "no data", a three-phase
// total keeps its digits, the group filter is Grafana UI, and verified=true without proof stays unproven.
import '../harness/fixtures/grafana/jsdomSetup';
import * as React from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { LoadingState, type DataFrame, type PanelData, type PanelProps } from '@grafana/data';
import { setDataSourceSrv, type DataSourceSrv } from '@grafana/runtime';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { trustFrame } from '../../grafana-plugin/datasource/frames';
import { DEFAULT_OPTIONS, type TrustPanelOptions } from '../../grafana-plugin/panel/options';
import { TrustPanel } from '../../grafana-plugin/panel/TrustPanel';
import { deviceKey, sign, trustResults, type FakeDevice } from '../harness/fixtures/grafana/fleetFrames';

let keyListJson = '';
setDataSourceSrv({
  getInstanceSettings: () => ({ type: 'meterproof-trust-datasource', jsonData: { publicKeys: keyListJson } }),
  getList: () => [],
} as unknown as DataSourceSrv);

const NOW = Date.now();
const M1 = '2024-05-01T10:00:00,1.500';
const M3 = '2024-05-01T10:00:00,[1201.500,980.250,1110.000]';
let fleet: FakeDevice[];

beforeAll(async () => {
  const [k1, k3] = await Promise.all([deviceKey(21), deviceKey(23)]);
  keyListJson = JSON.stringify({ 'a-healthy': k1.publicHex, 'b-edited': k1.publicHex, 'c-silent': k1.publicHex, 'd-3ph': k3.publicHex });
  const [s1, s3] = await Promise.all([sign(M1, k1.secret), sign(M3, k3.secret)]);
  const ok = (device: string, ago: number, values = [1.5], message = M1, signature = s1): FakeDevice => ({
    device,
    status: 'ok',
    lastSeen: NOW - ago,
    signedAt: NOW - ago,
    values,
    message,
    signature,
    counts: { ok: 4 },
  });
  fleet = [
    ok('a-healthy', 60_000),
    ok('b-edited', 60_000, [7.25]), // stored as verified, Total edited afterwards: the browser disproves it
    ok('c-silent', 3 * 3600_000), // verified, but nothing for three hours
    ok('d-3ph', 30_000, [1201.5, 980.25, 1110], M3, s3),
    { device: 'e-forged', status: 'bad_signature', lastSeen: NOW - 5_000, counts: { bad_signature: 5 } },
    { device: 'f-unsigned', status: 'unsigned', lastSeen: NOW - 5_000, counts: {} },
  ];
});

let root: Root | undefined;
let host: HTMLDivElement | undefined;
afterEach(() => {
  act(() => root?.unmount());
  host?.remove();
  root = host = undefined;
});

async function render(series: DataFrame[], options: Partial<TrustPanelOptions> = {}, width = 1100): Promise<HTMLDivElement> {
  const el = document.createElement('div');
  host = el;
  document.body.appendChild(el);
  const props = {
    data: {
      state: LoadingState.Done,
      series,
      timeRange: {},
      request: { targets: [{ refId: 'A', datasource: { uid: 'mp' } }] } as unknown as PanelData['request'],
    },
    options: { ...DEFAULT_OPTIONS, ...options },
    width,
    height: 420,
  } as unknown as PanelProps<TrustPanelOptions>;
  await act(async () => {
    root = createRoot(el);
    root.render(<TrustPanel {...props} />);
  });
  for (let i = 0; i < 100 && el.textContent!.includes('checking…'); i++) await act(() => new Promise((r) => setTimeout(r, 20)));
  return el;
}

const frameOf = (devices: FakeDevice[]) => trustFrame(trustResults(devices), 'ENERGY_Total', 'A', '');
const order = (el: HTMLElement) => [...el.querySelectorAll<HTMLElement>('[role=row][data-device]')].map((r) => r.dataset.device);
const row = (el: HTMLElement, device: string) => el.querySelector<HTMLElement>(`[data-device="${device}"]`)!;
const header = (el: HTMLElement, label: string) =>
  [...el.querySelectorAll<HTMLElement>('[role=columnheader]')].find((h) => h.textContent?.startsWith(label))!;

describe('sorting by verdict', () => {
  it('puts a row the browser disproves and a silent device with the failing ones, above every healthy one', async () => {
    const el = await render([frameOf(fleet)]);
    expect(row(el, 'b-edited').textContent).toContain('⚠differs: total changed');
    expect(order(el)).toEqual(['b-edited', 'e-forged', 'f-unsigned', 'c-silent', 'a-healthy', 'd-3ph']);
    act(() => header(el, 'Last verdict').click());
    expect(order(el)).toEqual(['a-healthy', 'd-3ph', 'c-silent', 'f-unsigned', 'e-forged', 'b-edited']);
    expect(el.querySelector('[aria-label=Summary]')!.textContent).toBe(
      '6 devices · 3 verified now · 2 failing · 3 stale · 1 differ in browser',
    );
  });

  it('without keys, still sorts a silent device with the failing ones', async () => {
    const el = await render([frameOf(fleet)], { recheck: false });
    expect(order(el)).toEqual(['e-forged', 'f-unsigned', 'c-silent', 'a-healthy', 'b-edited', 'd-3ph']);
  });
});

describe('layout', () => {
  it('keeps the header and the rows in one scroll container, so the header scrolls sideways with them', async () => {
    const el = await render([frameOf(fleet)], {}, 480);
    const table = el.querySelector<HTMLElement>('[role=table]')!;
    const head = el.querySelector<HTMLElement>('[role=columnheader]')!;
    const cell = row(el, 'a-healthy').querySelector('[role=cell]')!;
    expect(table.style.overflow).toBe('auto');
    expect(head.closest('[role=table]')).toBe(table);
    expect(cell.closest('[role=table]')).toBe(table);
    // One element sets the width both are laid out in; the header's grid is the rows' grid.
    const sized = table.firstElementChild as HTMLElement;
    expect(sized.style.minWidth).toMatch(/^calc\(\d+px \+ \d+ch\)$/);
    expect(head.closest<HTMLElement>('[role=rowgroup]')!.style.gridTemplateColumns).toBe(row(el, 'a-healthy').style.gridTemplateColumns);
  });

  it('widens the total column to a three-phase total instead of cutting it', async () => {
    const el = await render([frameOf(fleet)]);
    const text = '1201.500 / 980.250 / 1110.000 kWh';
    expect(row(el, 'd-3ph').querySelector('[data-column=total]')!.textContent).toBe(text);
    const grid = row(el, 'd-3ph').style.gridTemplateColumns;
    const chars = Number(/minmax\(calc\((\d+)ch \+ 12px\), 1\.3fr\)/.exec(grid)![1]);
    expect(chars).toBeGreaterThan(text.length);
  });

  it('draws a 0 % verified share unlike a device without readings', async () => {
    const el = await render([frameOf(fleet)]);
    const zero = row(el, 'e-forged').querySelector<HTMLElement>('[data-share]')!;
    const none = row(el, 'f-unsigned').querySelector<HTMLElement>('[data-share]')!;
    expect([zero.dataset.share, zero.textContent]).toEqual(['zero', '0 %']);
    expect(zero.title).toBe('0 % of 5 reading(s) verified');
    expect([none.dataset.share, none.textContent]).toEqual(['none', 'no readings']);
    expect(zero.className).not.toBe(none.className);
    expect(row(el, 'a-healthy').querySelector<HTMLElement>('[data-share]')!.textContent).toBe('100 %');
  });
});

describe('the group filter', () => {
  it('is a Grafana UI radio button group with counts, not a plain <select>', async () => {
    const el = await render([frameOf(fleet)]);
    expect(el.querySelector('select')).toBeNull();
    const group = el.querySelector('[aria-label=Show] [role=radiogroup]')!;
    const labels = [...group.querySelectorAll('label')];
    expect(labels.map((l) => l.textContent)).toEqual(['All 6', 'Verified now 3', 'Failing 2', 'Stale 3', 'Browser disagrees 1']);
    expect(group.querySelectorAll('input[type=radio]')).toHaveLength(5);
    act(() => labels[2]!.click());
    expect(order(el)).toEqual(['e-forged', 'f-unsigned']);
    act(() => labels[4]!.click());
    expect(order(el)).toEqual(['b-edited']);
    act(() => labels[1]!.click());
    expect(order(el)).toEqual(['c-silent', 'a-healthy', 'd-3ph']);
  });

  it('offers "Browser disagrees" only where the panel re-checks', async () => {
    const el = await render([frameOf(fleet)], { recheck: false });
    expect([...el.querySelectorAll('[aria-label=Show] label')].map((l) => l.textContent)).toEqual([
      'All 6',
      'Verified now 4',
      'Failing 2',
      'Stale 3',
    ]);
  });
});

it('shows verified=true without Signature or signed_message as unproven, never verified', async () => {
  const proofless: FakeDevice = { ...fleet[0]!, device: 'g-proofless', signature: undefined };
  const el = await render([frameOf([proofless])]);
  expect(row(el, 'g-proofless').textContent).toMatch(/^g-proofless✗unprovennone in range/);
  expect(el.querySelector('[aria-label=Summary]')!.textContent).toMatch(/ 0 verified now /);
});
