// Headless Chromium loads each built module.js the way Grafana does: SystemJS plus its AMD extra,
// script tags, and an import map serving the real React and @grafana/* packages, in each shape that
// Grafana 11.6–13 hands shared modules over. Both plugins must load, register and render.
import { build } from 'esbuild';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGrafanaPlugins, SHARED_MODULES } from '../../grafana-plugin/build.mjs';
import { startChromium, type ChromiumSession } from '../harness/chromium';
import { deviceKey, sign, trustAnswer, type FakeDevice } from '../harness/fixtures/grafana/fleetFrames';
import { startPluginHost, type PluginHost } from '../harness/fixtures/grafana/pluginHost';

let outDir: string;
let host: PluginHost;
let chrome: ChromiumSession;
let publicKeys: string;

beforeAll(async () => {
  const [key, key3] = await Promise.all([deviceKey(7), deviceKey(8)]);
  const message = '2024-05-01T10:00:00,12.345';
  const message3 = '2024-05-01T10:00:00,[1201.500,980.250,1110.000]';
  publicKeys = JSON.stringify({ 'plug-a': key.publicHex, 'plug-3': key3.publicHex });
  const fleet: FakeDevice[] = [
    {
      device: 'plug-a',
      status: 'ok',
      lastSeen: Date.now() - 5000,
      signedAt: Date.now() - 5000,
      values: [12.345],
      message,
      signature: await sign(message, key.secret),
      counts: { ok: 9, bad_signature: 1 },
    },
    { device: 'plug-b', status: 'replay', lastSeen: Date.now() - 1000, counts: { replay: 2 } },
    // Tagged verified = true, but written past the processor: no Signature, no signed_message.
    { device: 'plug-forged', status: 'ok', lastSeen: Date.now() - 2000, signedAt: Date.now() - 2000, values: [99.9], counts: { ok: 1 } },
    {
      device: 'plug-3',
      status: 'ok',
      lastSeen: Date.now() - 3000,
      signedAt: Date.now() - 3000,
      values: [1201.5, 980.25, 1110],
      message: message3,
      signature: await sign(message3, key3.secret),
      counts: { ok: 4 },
    },
  ];
  outDir = await mkdtemp(join(tmpdir(), 'meterproof-plugins-'));
  await buildGrafanaPlugins({ outDir });
  // Control: the same panel as bare CommonJS, which Grafana 11+ cannot load.
  const cjs = await build({
    entryPoints: ['grafana-plugin/panel/module.ts'],
    bundle: true,
    write: false,
    format: 'cjs',
    external: [...SHARED_MODULES],
    jsxFactory: 'React.createElement',
    logLevel: 'error',
  });
  await mkdir(join(outDir, 'cjs-only'));
  await writeFile(join(outDir, 'cjs-only', 'module.js'), cjs.outputFiles[0]!.text);
  // The proxy answers each trust statement and the variable queries as InfluxDB would for this fleet.
  const tagValues = (key: string, values: string[]) => [{ series: [{ columns: ['key', 'value'], values: values.map((v) => [key, v]) }] }];
  const trust = trustAnswer(fleet);
  const answer = (q: string) =>
    q.endsWith('WITH KEY = "device"')
      ? { results: tagValues('device', ['plug-3', 'plug-a', 'plug-b']) }
      : q.endsWith('WITH KEY = "verify_status"')
        ? { results: tagValues('verify_status', ['ok', 'replay']) }
        : trust(q);
  await Promise.all([startPluginHost(outDir, { answer }).then((h) => (host = h)), startChromium().then((c) => (chrome = c))]);
});

afterAll(async () => {
  await Promise.allSettled([host?.stop(), chrome?.stop()]);
  await rm(outDir, { recursive: true, force: true });
});

describe.each(['namespace', 'default-only', 'exports'])('shared modules handed over as %s', (shape) => {
  it('loads the data source and the panel, and both render', async () => {
    const settings = {
      uid: 'mp',
      type: 'meterproof-trust-datasource',
      name: 'meterproof',
      url: '/api/datasources/proxy/uid/mp',
      jsonData: { database: 'telegraf', publicKeys },
    };
    const { page, errors } = await chrome.newPage();
    await page.goto(host.url);
    const loaded = await page.evaluate(
      async ({ shape, settings }) => {
        const h = (window as any).meterproofHost;
        h.share(shape);
        const ds = await h.load('/plugins/meterproof-trust-datasource/module.js');
        const panel = await h.load('/plugins/meterproof-trust-panel/module.js');
        h.useServices(settings);
        h.renderConfigEditor(ds.plugin, { ...settings, id: 1, access: 'proxy', secureJsonFields: { password: true } });
        await new Promise((r) => setTimeout(r, 100));
        const editorText = document.getElementById('root')!.textContent;
        return {
          ds: h.isDataSourcePlugin(ds.plugin),
          panel: h.isPanelPlugin(panel.plugin),
          editors: typeof ds.plugin.components.ConfigEditor === 'function' && typeof ds.plugin.components.QueryEditor === 'function',
          editorText,
        };
      },
      { shape, settings },
    );
    expect(loaded).toMatchObject({ ds: true, panel: true, editors: true });
    expect(loaded.editorText).toMatch(/URL.*Database.*Authentication.*Measurement.*Total field.*Public keys.*2 device\(s\) with keys/);

    // The data source queries through the proxy route; the panel renders what it returns.
    await page.evaluate(
      async ({ settings }) => {
        const h = (window as any).meterproofHost;
        const ds = await h.load('/plugins/meterproof-trust-datasource/module.js');
        const panel = await h.load('/plugins/meterproof-trust-panel/module.js');
        const targets = [{ refId: 'A', queryType: 'trust', datasource: { uid: 'mp' } }];
        const response = await h.query(ds.plugin, settings, targets, 60);
        h.renderPanel(panel.plugin, {
          data: { state: 'Done', series: response.data, request: { targets } },
          options: { staleMinutes: 15, unit: 'kWh', recheck: true },
          width: 1100,
          height: 200,
        });
      },
      { settings },
    );
    await page.waitForFunction(() => /re-checked in your browser/.test(document.body.textContent ?? ''), undefined, { timeout: 15_000 });
    // The built panel re-checks in Web Workers made from its own minified source (cryptoWorkers.ts): they
    // run, and hold the WebCrypto operations.
    expect(page.workers().length).toBeGreaterThanOrEqual(2);
    for (const w of page.workers()) expect(await w.evaluate('typeof ops.verify + typeof ops.primeOrder')).toBe('functionfunction');
    const text = await page.locator('#root').textContent();
    expect(text).toContain('4 devices · 2 verified now · 2 failing');
    expect(text).toMatch(/plug-a✓verified12\.345 kWh/);
    expect(text).toMatch(/plug-3✓verified1201\.500 \/ 980\.250 \/ 1110\.000 kWh/);
    expect(text).toMatch(/plug-b✗replay/);
    // Tagged verified but carrying no proof: unproven, never the green badge, never a signed total.
    expect(text).toMatch(/plug-forged✗unproven/);
    expect(text).not.toMatch(/plug-forged✓/);
    const order = await page.locator('[role=row][data-device]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-device')));
    expect(order.indexOf('plug-forged')).toBeLessThan(order.indexOf('plug-a'));
    expect(order.indexOf('plug-forged')).toBeLessThan(order.indexOf('plug-3'));

    // Each authentication takes its own proxy route (the routes add u/p, or the token header, or nothing).
    for (const [authType, route] of [
      ['password', 'query-user'],
      ['token', 'query-token'],
      ['none', 'query-none'],
    ] as const) {
      host.paths.length = 0;
      await page.evaluate(
        async ({ settings }) => {
          const h = (window as any).meterproofHost;
          const ds = await h.load('/plugins/meterproof-trust-datasource/module.js');
          await h.query(ds.plugin, settings, [{ refId: 'A', queryType: 'trust', datasource: { uid: 'mp' } }], 60);
        },
        { settings: { ...settings, jsonData: { ...settings.jsonData, authType } } },
      );
      expect(new Set(host.paths)).toEqual(new Set([route]));
    }
    expect(errors).toEqual([]);
    await page.close();
  });
});

it("the dashboard's variables list values, and Explore gets the panel's queries with no variable left", async () => {
  const dash = JSON.parse(await readFile('provisioning/dashboards/meterproof/meter-trust.json', 'utf8')) as {
    templating: { list: Array<{ name: string; query?: string }> };
    panels: Array<{ datasource: { uid: string }; targets: object[] }>;
  };
  const variableQueries = Object.fromEntries(dash.templating.list.filter((v) => v.query).map((v) => [v.name, v.query!]));
  const targets = dash.panels.filter((p) => p.datasource.uid === 'meterproof-trust').flatMap((p) => p.targets);
  const { page, errors } = await chrome.newPage();
  await page.goto(host.url);
  const got = await page.evaluate(
    async ({ settings, variableQueries, targets }) => {
      const h = (window as any).meterproofHost;
      h.share('exports');
      h.useServices(settings, { device: ["it's", 'plug-a'], status: ['replay', 'bad_signature'] });
      const ds = await h.load('/plugins/meterproof-trust-datasource/module.js');
      const instance = new ds.plugin.DataSourceClass(settings);
      const values = async (q: string | undefined) => (await instance.metricFindQuery(q, {})).map((v: { text: string }) => v.text);
      return {
        devices: await values(variableQueries.device),
        statuses: await values(variableQueries.status),
        explore: instance.interpolateVariablesInQueries(targets, {}, [{ key: 'host', operator: '=|', value: '', values: ['a', 'b'] }]),
        annotations: instance.annotations.getDefaultQuery(),
      };
    },
    {
      settings: {
        uid: 'mp',
        type: 'meterproof-trust-datasource',
        url: '/api/datasources/proxy/uid/mp',
        jsonData: { database: 'telegraf' },
      },
      variableQueries,
      targets,
    },
  );
  expect(got.devices).toEqual(['plug-3', 'plug-a', 'plug-b']);
  expect(got.statuses).toEqual(['ok', 'replay']);
  expect(JSON.stringify(got.explore)).not.toContain('$');
  for (const q of got.explore) {
    expect(q).toMatchObject({
      device: '(?:it\\x{27}s|plug-a)',
      status: 'replay,bad_signature',
      adhocFilters: [{ key: 'host', operator: '=|', values: ['a', 'b'] }],
    });
  }
  expect(got.annotations).toEqual({ queryType: 'annotations' });
  expect(host.proxied).toEqual(expect.arrayContaining(['SHOW TAG VALUES FROM "mqtt_consumer" WITH KEY = "verify_status"']));
  expect(errors).toEqual([]);
  await page.close();
});

it('on a narrow panel: the header scrolls with the rows, a three-phase total keeps its digits, the group filter is full size', async () => {
  const { page, errors } = await chrome.newPage({ width: 600, height: 400 });
  await page.goto(host.url);
  await page.evaluate(
    async ({ publicKeys }) => {
      const h = (window as any).meterproofHost;
      h.share('namespace');
      const settings = {
        uid: 'mp',
        type: 'meterproof-trust-datasource',
        url: '/api/datasources/proxy/uid/mp',
        jsonData: { database: 'telegraf', publicKeys },
      };
      h.useServices(settings);
      const ds = await h.load('/plugins/meterproof-trust-datasource/module.js');
      const panel = await h.load('/plugins/meterproof-trust-panel/module.js');
      const targets = [{ refId: 'A', queryType: 'trust', datasource: { uid: 'mp' } }];
      const response = await h.query(ds.plugin, settings, targets, 60);
      h.renderPanel(panel.plugin, {
        data: { state: 'Done', series: response.data, request: { targets } },
        options: { staleMinutes: 15, unit: 'kWh', recheck: true },
        width: 520,
        height: 260,
      });
    },
    { publicKeys },
  );
  await page.waitForFunction(() => /re-checked in your browser/.test(document.body.textContent ?? ''), undefined, { timeout: 15_000 });
  const measure = () =>
    page.evaluate(() => {
      const table = document.querySelector<HTMLElement>('[role=table]')!;
      const head = document.querySelector<HTMLElement>('[role=columnheader]:nth-child(3)')!;
      const cell = document.querySelector<HTMLElement>('[data-device="plug-3"] [data-column=total]')!;
      return {
        scrollable: table.scrollWidth - table.clientWidth,
        head: head.getBoundingClientRect().left,
        cell: cell.getBoundingClientRect().left,
        cut: cell.scrollWidth - cell.clientWidth,
        text: cell.textContent,
      };
    });
  const before = await measure();
  expect(before.scrollable).toBeGreaterThan(100); // 520 px is narrower than the table
  expect(before.text).toBe('1201.500 / 980.250 / 1110.000 kWh');
  expect(before.cut).toBeLessThanOrEqual(0);
  expect(before.head).toBe(before.cell);
  await page.evaluate(() => {
    document.querySelector<HTMLElement>('[role=table]')!.scrollLeft = 150;
  });
  await page.waitForFunction(() => document.querySelector<HTMLElement>('[role=table]')!.scrollLeft === 150);
  const after = await measure();
  expect(after.head).toBe(before.head - 150);
  expect(after.cell).toBe(after.head);

  // Grafana UI's radio buttons, at their own size (a plain <select> was squashed by Grafana's CSS).
  const failing = page.locator('[aria-label=Show] label', { hasText: 'Failing 2' });
  const box = (await failing.boundingBox())!;
  expect(box.height).toBeGreaterThanOrEqual(16);
  expect(Number.parseFloat(await failing.evaluate((l) => getComputedStyle(l).fontSize))).toBeGreaterThanOrEqual(11);
  // Settled: nothing re-renders by itself (no render loop).
  const mutations = await page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        let n = 0;
        const o = new MutationObserver((m) => (n += m.length));
        o.observe(document.getElementById('root')!, { subtree: true, childList: true, attributes: true, characterData: true });
        setTimeout(() => (o.disconnect(), resolve(n)), 500);
      }),
  );
  expect(mutations).toBe(0);
  // A real click where the button is drawn (Grafana lays the radio input over its label).
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction(() => document.querySelectorAll('[role=row][data-device]').length === 2);
  const shown = await page.locator('[role=row][data-device]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-device')));
  expect(shown.sort()).toEqual(['plug-b', 'plug-forged']);
  expect(errors).toEqual([]);
  await page.close();
});

it('refuses bare CommonJS, as Grafana 11+ does ("module is not defined")', async () => {
  const { page } = await chrome.newPage();
  await page.goto(host.url);
  const failure = await page.evaluate(async () => {
    const h = (window as any).meterproofHost;
    h.share('namespace');
    try {
      await h.load('/plugins/cjs-only/module.js');
      return 'loaded';
    } catch (e) {
      return String(e);
    }
  });
  expect(failure).toMatch(/module is not defined/);
  await page.close();
});
