// The built plugins on real data: a known fleet (fixtures/grafana/knownFleet.ts) goes through the real
// processor into a real InfluxDB; the data source's module.js, loaded in Chromium, queries it through a
// stand-in of Grafana's proxy, and the panel renders the result (the screenshot in docs/img/trust-panel.png).
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERIFY_STATUSES } from '../../core/status';
import type { FleetMessage } from '../../sim/fleet';
import { DB, SPECS, startKnownFleet, type KnownFleet } from '../harness/fixtures/grafana/knownFleet';
import { stockFrames, type StockSeries } from '../harness/fixtures/grafana/stockFrames';

const SCREENSHOT = fileURLToPath(new URL('../../docs/img/trust-panel.png', import.meta.url));

interface Frame {
  name?: string;
  fields: Array<{ name: string; values: unknown[]; labels?: Record<string, string> }>;
  meta?: { custom?: Record<string, unknown> };
}
const col = (f: Frame, name: string) => f.fields.find((x) => x.name === name)!.values;

let fleet: KnownFleet;
let page: Page;
let messages: readonly FleetMessage[];
let publicKeys: string;

/** What each device's rows must show, from how the fleet made its messages. */
function expectations() {
  const byDevice = new Map<string, FleetMessage[]>();
  for (const m of messages) byDevice.set(m.device, [...(byDevice.get(m.device) ?? []), m]);
  return [...byDevice].map(([device, ms]) => {
    const ok = ms.filter((m) => m.expected === 'ok');
    const lastOk = ok.at(-1);
    const parsed = lastOk && (JSON.parse(lastOk.payload) as { Time: string; ENERGY: { Total: number | number[] } });
    const totalText = lastOk && /"Total":(\[[^\]]*\]|[0-9.]+)/.exec(lastOk.payload)![1];
    return {
      device,
      status: ms.at(-1)!.expected,
      readings: ms.length,
      ok: ok.length,
      okTotals: ok.map((m) => (JSON.parse(m.payload) as { ENERGY: { Total: number | number[] } }).ENERGY.Total),
      signedMessage: parsed ? `${parsed.Time.slice(0, 19)},${totalText}` : null,
      values: parsed ? [parsed.ENERGY.Total].flat() : null,
      counts: Object.fromEntries(VERIFY_STATUSES.map((s) => [s, ms.filter((m) => m.expected === s).length])),
    };
  });
}

const settings = () => ({
  uid: 'mp',
  type: 'meterproof-trust-datasource',
  name: 'meterproof',
  url: '/api/datasources/proxy/uid/mp',
  jsonData: { database: DB, measurement: 'mqtt_consumer', totalField: 'ENERGY_Total', publicKeys },
});

/** Runs queries with the built data source in the page. */
async function query(
  targets: object[],
  opts: { variables?: Record<string, string | string[]>; filters?: object[]; jsonData?: object } = {},
): Promise<Frame[]> {
  return page.evaluate(
    async ({ targets, opts, settings }) => {
      const h = (window as any).meterproofHost;
      const s = { ...settings, jsonData: { ...settings.jsonData, ...opts.jsonData } };
      h.useServices(s, opts.variables);
      const ds = await h.load('/plugins/meterproof-trust-datasource/module.js');
      return JSON.parse(JSON.stringify((await h.query(ds.plugin, s, targets, 120, opts.filters)).data));
    },
    { targets, opts, settings: settings() },
  );
}

async function inPage<T>(fn: string, arg?: unknown, jsonData: object = {}): Promise<T> {
  return page.evaluate(
    async ({ fn, arg, settings, jsonData }) => {
      const h = (window as any).meterproofHost;
      const s = { ...settings, jsonData: { ...settings.jsonData, ...jsonData } };
      h.useServices(s);
      const ds = await h.load('/plugins/meterproof-trust-datasource/module.js');
      return fn === 'health' ? h.health(ds.plugin, s) : h.variableValues(ds.plugin, s, arg);
    },
    { fn, arg, settings: settings(), jsonData },
  );
}

beforeAll(async () => {
  fleet = await startKnownFleet();
  ({ messages, publicKeys } = fleet);
  const tab = await fleet.chrome.newPage({ width: 1240, height: 520 });
  page = tab.page;
  await page.goto(fleet.host.url);
  await page.evaluate(() => (window as any).meterproofHost.share('namespace'));
});

afterAll(() => fleet?.stop());

describe('on a real InfluxDB filled by the real processor', () => {
  it('health check: connected, devices and the verified tag seen, keys loaded', async () => {
    const ok = await inPage<{ status: string; message: string }>('health');
    expect(ok).toEqual({
      status: 'success',
      message: `Connected to database "${DB}", measurement "mqtt_consumer": ${SPECS.length + 1} device(s), verified tag seen; ${SPECS.length} device key(s) for browser re-checks.`,
    });
    expect((await inPage<{ message: string }>('health', undefined, { database: 'nope' })).message).toBe(
      'Database "nope" does not exist on this InfluxDB: check the database name',
    );
    expect((await inPage<{ message: string }>('health', undefined, { measurement: 'elsewhere' })).message).toMatch(
      /measurement "elsewhere" has no rows/,
    );
  });

  it('Trust status: one row per device with verdict, signed total, share and reasons', async () => {
    const [frame] = await query([{ refId: 'A', queryType: 'trust' }]);
    const devices = col(frame!, 'device') as string[];
    const want = expectations();
    expect([...devices].sort()).toEqual(want.map((w) => w.device).sort());
    for (const w of want) {
      const i = devices.indexOf(w.device);
      const row = Object.fromEntries(frame!.fields.map((f) => [f.name, f.values[i]]));
      expect(row.verify_status, w.device).toBe(w.status);
      expect(row.verified, w.device).toBe(w.status === 'ok');
      expect(row.readings, w.device).toBe(w.readings + (w.device === 'kitchen-fridge' ? 1 : 0));
      for (const s of VERIFY_STATUSES)
        expect(row[`count_${s}`], `${w.device} ${s}`).toBe(w.counts[s]! + (w.device === 'kitchen-fridge' && s === 'ok' ? 1 : 0));
      if (w.device === 'kitchen-fridge') continue; // its newest verified row is the edited one, checked below
      expect(row.signed_message, w.device).toBe(w.signedMessage);
      expect(row.signed_values, w.device).toEqual(w.values);
      expect(row.verified_share, w.device).toBeCloseTo(w.ok / w.readings, 10);
      expect(typeof row.last_seen).toBe('number');
    }
    const fridge = devices.indexOf('kitchen-fridge');
    expect(col(frame!, 'signed_values')[fridge]).toEqual([9999.5]);
    expect(Object.fromEntries(want.map((w) => [w.device, w.status]))).toMatchObject({
      'meddled-meter': 'bad_signature',
      stranger: 'unknown_device',
      'old-firmware': 'unsigned',
      'office-desk': 'replay',
      'workshop-3phase': 'ok',
    });
  });

  it('Signed totals: verified totals per device and phase, from verified rows only', async () => {
    const frames = await query([{ refId: 'T', queryType: 'totals' }]);
    const byName = new Map(frames.map((f) => [f.name, f.fields[1]!.values]));
    for (const w of expectations()) {
      if (w.device === 'kitchen-fridge') continue;
      if (w.ok === 0) {
        expect(
          [...byName.keys()].some((n) => n?.startsWith(w.device)),
          w.device,
        ).toBe(false);
      } else if (Array.isArray(w.okTotals[0])) {
        (w.okTotals[0] as number[]).forEach((_, p) =>
          expect(byName.get(`${w.device} L${p + 1}`), w.device).toEqual(w.okTotals.map((t) => (t as number[])[p])),
        );
      } else {
        expect(byName.get(w.device), w.device).toEqual(w.okTotals);
      }
    }
  });

  it('Verification events: every reading that did not verify, with its reason', async () => {
    const [frame] = await query([{ refId: 'E', queryType: 'events', limit: 1000 }]);
    const got = (col(frame!, 'device') as string[]).map((d, i) => `${d} ${col(frame!, 'verify_status')[i]}`).sort();
    const want = messages
      .filter((m) => m.expected !== 'ok')
      .map((m) => `${m.device} ${m.expected}`)
      .sort();
    expect(got).toEqual(want);
    const times = col(frame!, 'time') as number[];
    expect([...times].sort((a, b) => b - a)).toEqual(times); // newest first
    expect(col(frame!, 'reason')).toContain('The signature does not match the Time and Total that were stored');
  });

  it('Devices: variable values via metricFindQuery', async () => {
    const values = await inPage<Array<{ text: string }>>('variables', '');
    expect(values.map((v) => v.text).sort()).toEqual([...SPECS.map((s) => s.name), 'stranger'].sort());
    expect((await inPage<Array<{ text: string }>>('variables', "it's-plug")).map((v) => v.text)).toEqual(["it's-plug"]);
  });

  it('multi-value variables and hostile filters select exactly, and change nothing', async () => {
    const [frame] = await query([{ refId: 'A', queryType: 'trust', device: '$device' }], {
      variables: { device: ["it's-plug", 'workshop-3phase', "x'; DROP DATABASE telegraf; --", 'a.*'] },
    });
    expect([...(col(frame!, 'device') as string[])].sort()).toEqual(["it's-plug", 'workshop-3phase']);
    const hostile = await query([{ refId: 'A', queryType: 'trust' }], {
      filters: [
        { key: 'host', operator: '=', value: "x' OR '1'='1" },
        { key: 'device" =~ /.*/ OR "x', operator: '=', value: 'y' },
      ],
    });
    expect(hostile[0]!.fields[0]!.values).toEqual([]);
    const dbs = await fleet.influx.query('SHOW DATABASES');
    expect(JSON.stringify(dbs)).toContain(`"${DB}"`);
    expect(fleet.host.proxied.some((q) => q.includes(`'x\\' OR \\'1\\'=\\'1'`))).toBe(true);
  });

  it("the dashboard's variables, $status and ad hoc filters on the verdict tags", async () => {
    const dash = JSON.parse(await readFile('provisioning/dashboards/meterproof/meter-trust.json', 'utf8')) as {
      templating: { list: Array<{ name: string; query?: string }> };
    };
    const variable = (name: string) => dash.templating.list.find((v) => v.name === name)!.query!;
    const texts = async (q: string) => (await inPage<Array<{ text: string }>>('variables', q)).map((v) => v.text).sort();
    expect(await texts(variable('device'))).toEqual(
      expectations()
        .map((w) => w.device)
        .sort(),
    );
    expect(await texts(variable('status'))).toEqual([...new Set(messages.map((m) => m.expected))].sort());

    const devices = async (targets: object[], opts: Parameters<typeof query>[1]) =>
      [...(col((await query(targets, opts))[0]!, 'device') as string[])].sort();
    // Devices by their last verdict: office-desk's earlier readings verified, its last one is a replay.
    const trust = [{ refId: 'A', queryType: 'trust', status: '$status' }];
    expect(await devices(trust, { variables: { status: ['replay', 'bad_signature'] } })).toEqual(['meddled-meter', 'office-desk']);
    expect(await devices(trust, { variables: { status: ['ok'] } })).toEqual(
      expectations()
        .filter((w) => w.status === 'ok')
        .map((w) => w.device)
        .sort(),
    );
    expect(await devices([{ refId: 'A', queryType: 'trust' }], { filters: [{ key: 'verified', operator: '=', value: 'false' }] })).toEqual(
      expectations()
        .filter((w) => w.status !== 'ok')
        .map((w) => w.device)
        .sort(),
    );
    // Readings in events: every replay, whatever the device's last verdict.
    const [events] = await query([{ refId: 'E', queryType: 'events', status: '$status', limit: 1000 }], {
      variables: { status: ['replay'] },
      filters: [{ key: 'device', operator: '!=|', value: '', values: ['nobody', "it's-plug"] }],
    });
    expect([...new Set(col(events!, 'verify_status'))]).toEqual(['replay']);
    expect(col(events!, 'device')).toHaveLength(messages.filter((m) => m.expected === 'replay').length);
  });

  it('annotations: the failures of the fleet, and a key change where a verified Total restarted', async () => {
    const [frame] = await query([{ refId: 'Anno', queryType: 'annotations', limit: 1000 }]);
    const tags = col(frame!, 'tags') as string[][];
    const want = messages.filter((m) => ['bad_signature', 'replay', 'rollback'].includes(m.expected));
    expect(tags.map((t) => t.join(' ')).sort()).toEqual(want.map((m) => `${m.expected} ${m.device}`).sort());
    expect(col(frame!, 'text').every((t) => typeof t === 'string' && t.length > 20)).toBe(true);

    // A plug reset in the middle of the range: its verified Total starts again near zero under a new key.
    const base = fleet.started - 30 * 60_000;
    const totals = [100.5, 100.75, 101, 0.02, 0.05];
    await fleet.influx.write(
      DB,
      totals
        .map(
          (t, i) => `mqtt_rotation,device=hall,verified=true,verify_status=ok ENERGY_Total=${t} ${BigInt(base + i * 120_000) * 1_000_000n}`,
        )
        .join('\n'),
    );
    const [keys] = await query([{ refId: 'Anno', queryType: 'annotations', annotationKinds: ['keyChanges'] }], {
      jsonData: { measurement: 'mqtt_rotation' },
    });
    expect(col(keys!, 'tags')).toEqual([['key_change', 'hall']]);
    const at = (col(keys!, 'time') as number[])[0]!;
    expect(at).toBeGreaterThan(base + 2 * 120_000);
    expect(at).toBeLessThanOrEqual(base + 3 * 120_000);
    expect(col(keys!, 'text')[0]).toMatch(/^hall: a new key\. The verified Total went down \(101 → 0\.02\)/);
  });

  it("the dashboard's stock InfluxDB panel reads verified rows only", async () => {
    const dash = JSON.parse(await readFile('provisioning/dashboards/meterproof/meter-trust.json', 'utf8')) as {
      panels: Array<{ datasource: { uid: string }; targets: Array<{ query?: string }> }>;
    };
    const query = dash.panels.find((p) => p.datasource.uid === 'influxdb-meterproof')!.targets[0]!.query!;
    // Grafana's own macros, as its InfluxDB data source expands them for "All" and the last 2 hours.
    const [result] = await fleet.influx.query(
      query
        .replace('${device:regex}', '.*')
        .replace('${status:regex}', '.*')
        .replace('$timeFilter', 'time > now() - 2h')
        .replace('$__interval', '10s'),
      DB,
    );
    const shown = (result!.series ?? []).map((s) => s.tags!.device).sort();
    expect(shown).toEqual(
      expectations()
        .filter((w) => w.ok > 0)
        .map((w) => w.device)
        .sort(),
    );
  });

  it('the alert queries in docs/grafana.md run on the stock data source and find the failing meters', async () => {
    const docs = await readFile('docs/grafana.md', 'utf8');
    const [failures, silence] = [...docs.matchAll(/```sql\n([^`]*\$timeFilter[^`]*)```/g)].map((m) =>
      m[1]!.replace(/\s+/g, ' ').replaceAll('$timeFilter', 'time > now() - 2h'),
    );
    const devices = async (q: string) => ((await fleet.influx.query(q, DB))[0]!.series ?? []).map((s) => s.tags!.device).sort();
    expect(await devices(failures!)).toEqual(
      expectations()
        .filter((w) => w.ok < w.readings)
        .map((w) => w.device)
        .sort(),
    );
    expect(await devices(silence!)).toEqual(
      expectations()
        .filter((w) => w.ok > 0)
        .map((w) => w.device)
        .sort(),
    );
  });

  it('the panel renders the fleet, re-checks it in the browser, and flags the edited row', async () => {
    const frames = await query([{ refId: 'A', queryType: 'trust', datasource: { uid: 'mp' } }]);
    await page.evaluate(
      async ({ frames }) => {
        const h = (window as any).meterproofHost;
        const panel = await h.load('/plugins/meterproof-trust-panel/module.js');
        h.renderPanel(panel.plugin, {
          data: { state: 'Done', series: frames, request: { targets: [{ refId: 'A', datasource: { uid: 'mp' } }] } },
          options: { staleMinutes: 60, unit: 'kWh', recheck: true },
          width: 1220,
          height: 360,
        });
      },
      { frames },
    );
    await page.waitForFunction(
      () => !/checking…/.test(document.body.textContent ?? '') && /re-checked in your browser/.test(document.body.textContent ?? ''),
      undefined,
      { timeout: 30_000 },
    );
    const row = async (device: string) => page.locator(`[data-device="${device}"]`).textContent();
    expect(await row('workshop-3phase')).toMatch(/✓verified\[?[\d.]+ \/ [\d.]+ \/ [\d.]+ kWh.*✓re-checked in your browser/);
    expect(await row('attic-heater')).toMatch(/✓verified\d+\.\d kWh.*re-checked in your browser/);
    expect(await row('meddled-meter')).toMatch(/✗bad signature.*bad signature 1.*re-checked in your browser/);
    expect(await row('stranger')).toMatch(/!unknown device.*none in range.*stale.*nothing signed/);
    expect(await row('kitchen-fridge')).toMatch(/⚠differs: total changed/);
    expect(await page.locator('[aria-label=Summary]').textContent()).toMatch(
      /^8 devices · 3 verified now · 4 failing · 2 stale · 1 differ in browser$/,
    );
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.locator('#root').screenshot({ path: SCREENSHOT });
  });

  it("the panel on Grafana's own InfluxDB data source shows the three-phase meter's three phases", async () => {
    // The README's stock query with the dashboard's alias, as InfluxDB answers it, and as Grafana's
    // backend turns the answer into frames (fixtures/grafana/stockFrames.ts).
    // Grafana asks for epoch=ms, as its converter reads times as numbers.
    const q = `SELECT last(/^ENERGY_Total(_[0-9]+)?$/) FROM "mqtt_consumer" WHERE time > now() - 2h GROUP BY time(1m), "device"::tag, "verified"::tag, "verify_status"::tag fill(none)`;
    const response = await fetch(`${fleet.influx.url}/query?db=${DB}&epoch=ms`, { method: 'POST', body: new URLSearchParams({ q }) });
    const [result] = ((await response.json()) as { results: Array<{ series?: StockSeries[] }> }).results;
    const frames = stockFrames(result!.series ?? [], { alias: '$tag_device $col' });
    await page.evaluate(
      async ({ frames, settings }) => {
        const h = (window as any).meterproofHost;
        h.useServices(settings);
        const panel = await h.load('/plugins/meterproof-trust-panel/module.js');
        h.renderPanel(panel.plugin, {
          data: { state: 'Done', series: frames, request: { targets: [{ refId: 'A', datasource: { uid: 'influxdb-meterproof' } }] } },
          options: { staleMinutes: 60, unit: 'kWh', recheck: true },
          width: 1220,
          height: 360,
        });
      },
      { frames: JSON.parse(JSON.stringify(frames)), settings: settings() },
    );
    const row = page.locator('[data-device="workshop-3phase"]');
    await row.waitFor();
    const [, three] = (/"Total":\[([^\]]*)\]/.exec(
      messages.filter((m) => m.device === 'workshop-3phase' && m.expected === 'ok').at(-1)!.payload,
    ) ?? []) as string[];
    const phases = three!.split(',').map(Number);
    expect(phases).toHaveLength(3);
    expect(await row.textContent()).toContain(`✓verified${phases.join(' / ')} kWh(as stored)`);
  });
});
