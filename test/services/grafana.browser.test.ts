// Headless Chromium loads each built module.js the way Grafana does: SystemJS plus its AMD extra,
// script tags, and an import map serving the real React and @grafana/* packages, in each shape that
// Grafana 11.6–13 hands shared modules over. Both plugins must load, register and render.
import { build } from 'esbuild';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  const key = await deviceKey(7);
  const message = '2024-05-01T10:00:00,12.345';
  publicKeys = JSON.stringify({ 'plug-a': key.publicHex });
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
  // The proxy answers each trust statement as InfluxDB would for this fleet.
  const answer = trustAnswer(fleet);
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
    expect(loaded.editorText).toMatch(/URL.*Database.*Authentication.*Measurement.*Total field.*Public keys.*1 device\(s\) with keys/);

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
    const text = await page.locator('#root').textContent();
    expect(text).toContain('2 devices · 1 verified now · 1 failing');
    expect(text).toMatch(/plug-a✓verified12\.345 kWh/);
    expect(text).toMatch(/plug-b✗replay/);
    expect(errors).toEqual([]);
    await page.close();
  });
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
