// The whole provisioned dashboard (provisioning/dashboards/meterproof/meter-trust.json) on real data,
// screenshot in docs/img/dashboard.png. No Grafana server runs here, so the page is assembled from parts.
//
// Grafana's own code: @grafana/ui 13's GlobalStyles, PanelChrome (the panel title bars), TimeSeries (what
// the stock `timeseries` panel draws with uPlot), TableNG (what the stock `table` panel draws),
// MultiSelect, InlineSwitch, TimeRangePicker and RefreshPicker, with the style sheets they import, in the
// dark theme of @grafana/data's createTheme; @grafana/data's rangeUtil.calculateInterval ($__interval from
// the range and each panel's width) and applyFieldOverrides (units, decimals, value mappings). The
// meterproof panels are the built plugins (dist/meterproof-trust-*), querying the real InfluxDB through
// Grafana's proxy as the routes in their plugin.json say (fixtures/grafana/pluginHost.ts).
//
// Stand-ins, each following Grafana's source: the grid (react-grid-layout's placement with Grafana's
// GRID_CELL_HEIGHT 30, GRID_CELL_VMARGIN 8 and 24 columns, public/app/core/constants.ts); the field
// config registry and the panels' default field config (Grafana's standard options live in its app, not
// in npm); the template service (fixtures/grafana/host.js; "All" is the variables' custom all value, as
// scenes inserts it); the stock InfluxDB data source's backend (its macros in stockQuery.ts, its frames
// in stockFrames.ts); the breadcrumb bar and the variable pickers' layout. Left out: the timeseries
// panel's own frame preparation (the frames here are time and numbers already), the annotation markers
// (app code; the layers show as switches), Grafana's Inter font (not in npm) and one time picker icon
// (dashboardHost.ts mirrors its twin). The range is the last hour, not the dashboard's default 24 hours,
// so that the fleet's hour of readings fills the graphs.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDashboardPage } from '../harness/fixtures/grafana/dashboardHost';
import type { DashboardJson, DashboardSpec, Resolved } from '../harness/fixtures/grafana/dashboardEntry';
import { DB, startKnownFleet, type KnownFleet } from '../harness/fixtures/grafana/knownFleet';
import { runStockQuery } from '../harness/fixtures/grafana/stockQuery';

const DASHBOARD = 'provisioning/dashboards/meterproof/meter-trust.json';
const SCREENSHOT = fileURLToPath(new URL('../../docs/img/dashboard.png', import.meta.url));
const WIDTH = 1440;
// A person looking at the last hour: the fleet's rounds are 10 minutes apart, the last one 4 minutes ago.
const RANGE = { from: 'now-1h', to: 'now' };

let fleet: KnownFleet;
let page: Page;
let errors: string[];
let dashboard: DashboardJson;

beforeAll(async () => {
  [fleet, dashboard] = await Promise.all([
    startKnownFleet({ roundEveryMs: 10 * 60_000, lastRoundAgoMs: 4 * 60_000 }),
    readFile(DASHBOARD, 'utf8').then((t) => JSON.parse(t) as typeof dashboard),
  ]);
  ({ page, errors } = await fleet.chrome.newPage({ width: WIDTH, height: 900 }));
  await openDashboardPage(page, fleet.host.url);
});

afterAll(() => fleet?.stop());

const panel = (title: string) => page.locator(`[data-panel="${dashboard.panels.find((p) => p.title === title)!.id}"]`);

describe('the provisioned dashboard on a real InfluxDB', () => {
  it('renders every panel from real data, and is screenshot to docs/img/dashboard.png', async () => {
    const allValues = Object.fromEntries(
      dashboard.templating.list.flatMap((v) => (v.allValue === undefined ? [] : [[v.name, v.allValue]])),
    );
    const resolved = await page.evaluate(
      ({ dashboard, range }) => (window as any).meterproofDashboard.resolve(dashboard, range) as Resolved,
      { dashboard, range: RANGE },
    );
    // The panels on Grafana's own InfluxDB data source: their own queries, run as its backend runs them.
    const stockPanels = dashboard.panels.filter((p) => p.datasource.type === 'influxdb');
    expect(stockPanels).toHaveLength(1);
    const stock = Object.fromEntries(
      await Promise.all(
        stockPanels.map(async (p) => {
          const { interval } = resolved.panels.find((r) => r.id === p.id)!;
          const frames = await runStockQuery(p.targets[0] as unknown as { query: string; alias?: string }, {
            influxUrl: fleet.influx.url,
            db: DB,
            allValues,
            fromMs: resolved.fromMs,
            toMs: resolved.toMs,
            interval,
          });
          return [p.id, JSON.parse(JSON.stringify(frames))] as const;
        }),
      ),
    );
    const spec: DashboardSpec = {
      dashboard,
      range: RANGE,
      resolved,
      settings: {
        uid: 'meterproof-trust',
        type: 'meterproof-trust-datasource',
        name: 'meterproof',
        url: '/api/datasources/proxy/uid/meterproof-trust',
        jsonData: { database: DB, measurement: 'mqtt_consumer', totalField: 'ENERGY_Total', publicKeys: fleet.publicKeys },
      } as unknown as DashboardSpec['settings'],
      variables: Object.fromEntries(Object.entries(allValues).map(([name, allValue]) => [name, { allValue }])),
      stock,
    };
    await page.evaluate((spec) => (window as any).meterproofDashboard.render(spec), spec);
    // The whole dashboard in the window: a full-page screenshot would resize it, and the table redraws its rows.
    await panel(dashboard.panels.at(-1)!.title).waitFor();
    await page.setViewportSize({ width: WIDTH, height: await page.evaluate(() => document.documentElement.scrollHeight) });

    // Every panel with its title; the trust panel once its browser re-check is done.
    for (const p of dashboard.panels) await panel(p.title).getByText(p.title, { exact: true }).waitFor();
    await page.waitForFunction(() => /re-checked in your browser/.test(document.body.textContent ?? ''), undefined, { timeout: 30_000 });
    await page.waitForFunction(() => !/checking…/.test(document.body.textContent ?? ''), undefined, { timeout: 30_000 });
    expect(await page.locator('[aria-label=Summary]').textContent()).toBe(
      '8 devices · 3 verified now · 4 failing · 2 stale · 1 differ in browser',
    );

    // Laid out by gridPos on Grafana's grid: rows of 30 px, 8 px between panels.
    const boxes = await Promise.all(dashboard.panels.map(async (p) => ({ ...p.gridPos, box: (await panel(p.title).boundingBox())! })));
    for (const { h, box } of boxes) expect(box.height).toBe(h * 30 + (h - 1) * 8);
    for (const a of boxes)
      for (const b of boxes) {
        if (b.y === a.y + a.h) expect(b.box.y).toBe(a.box.y + a.box.height + 8);
        if (b.y === a.y && b.x === a.x + a.w) expect(b.box.x).toBe(a.box.x + a.box.width + 8);
      }
    expect(boxes.filter((b) => b.w === 24).every((b) => b.box.width === WIDTH - 32)).toBe(true);

    // Both time series: a point per verified reading and phase (and the edited row), a legend entry per
    // series (three for the three-phase meter), and a drawn plot.
    const points = fleet.messages.filter((m) => m.expected === 'ok').reduce((n, m) => n + (m.device === 'workshop-3phase' ? 3 : 1), 1);
    for (const title of ['Signed totals (verified readings only)', 'Energy total, verified rows (InfluxDB data source)']) {
      expect(await panel(title).getAttribute('data-points'), title).toBe(String(points));
      const legend = (await panel(title).locator('li').allTextContents()).join('|');
      expect(legend, title).toMatch(/workshop-3phase.*workshop-3phase.*workshop-3phase/);
      expect(legend, title).toContain('attic-heater');
      expect(await panel(title).locator('canvas').count(), title).toBeGreaterThan(0);
    }
    // The events table: a row per reading that did not verify, its status mapped as the dashboard says.
    const failed = fleet.messages.filter((m) => m.expected !== 'ok').length;
    const events = panel('Verification events (readings that did not verify)');
    expect(await events.getByRole('grid').getAttribute('aria-rowcount')).toBe(String(failed + 1)); // and the header
    await events.getByText('! unsigned').first().waitFor({ timeout: 10_000 }); // the grid draws its rows once it has measured itself
    expect(await events.getByText('! unknown device').count()).toBeGreaterThan(0);

    // The variable bar and the time picker.
    for (const v of ['device', 'status']) expect(await page.locator(`[data-variable="${v}"]`).textContent()).toMatch(/All/);
    expect(await page.locator('[data-variable="filters"]').textContent()).toContain('Filters');
    expect(await page.getByText('Last 1 hour').count()).toBeGreaterThan(0);
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect((await stat(SCREENSHOT)).size).toBeLessThan(400_000);
    // Grafana's Inter font is not in npm: the page falls back to the system's sans-serif.
    expect(errors.filter((e) => !/\/public\/fonts\/inter\/Inter-\w+\.woff2/.test(e))).toEqual([]);
  });
});
