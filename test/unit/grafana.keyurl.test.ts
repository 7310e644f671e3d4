// @vitest-environment jsdom
/**
 * The panel's key list fetched at run time (`keysUrl`), against a real HTTP server standing in for
 * Grafana's static files: the file, no file (404), Grafana's own HTML page in its place, a server error,
 * and no answer. A missing file is "no keys", never an error that could stop anything; a list that does
 * not parse is an error the panel shows.
 */
import '../harness/fixtures/grafana/jsdomSetup';
import * as React from 'react';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigEditor } from '../../grafana-plugin/datasource/ConfigEditor';
import { fetchKeyText, keyListFromText, loadKeyText, resolveKeysUrl } from '../../grafana-plugin/panel/publicKeys';
import { deviceKey } from '../harness/fixtures/grafana/fleetFrames';

let server: Server;
let base = '';
let keysJson = '';
const seen: string[] = [];

beforeAll(async () => {
  keysJson = JSON.stringify({ 'plug-1': (await deviceKey(1)).publicHex, 'plug-2': (await deviceKey(2)).publicHex });
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/grafana/public/meterproof/pub_keys.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' }).end(keysJson);
    } else if (req.url === '/grafana/public/meterproof/broken.json')
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"plug-1": ');
    else if (req.url === '/grafana/login')
      res.writeHead(200, { 'content-type': 'text/html; charset=UTF-8' }).end('<!DOCTYPE html><html></html>');
    else if (req.url === '/grafana/boom') res.writeHead(500).end('no');
    else if (req.url === '/grafana/hang') {
      /* never answers */
    } else res.writeHead(404, { 'content-type': 'text/html; charset=UTF-8' }).end('<html>not found</html>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/grafana/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const load = (path: string, timeoutMs?: number) =>
  loadKeyText(resolveKeysUrl(path, base), fetchKeyText, timeoutMs).result.then(keyListFromText);

describe('keysUrl', () => {
  it('resolves a relative address under Grafana’s sub-path, as the browser does with <base href>', () => {
    expect(resolveKeysUrl('public/meterproof/pub_keys.json', 'https://grafana.example/grafana/')).toBe(
      'https://grafana.example/grafana/public/meterproof/pub_keys.json',
    );
    expect(resolveKeysUrl('public/meterproof/pub_keys.json', 'https://grafana.example/')).toBe(
      'https://grafana.example/public/meterproof/pub_keys.json',
    );
    expect(resolveKeysUrl('https://keys.example/k.json', 'https://grafana.example/grafana/')).toBe('https://keys.example/k.json');
  });

  it('reads the key file Grafana serves', async () => {
    const state = await load('public/meterproof/pub_keys.json');
    expect('keys' in state && [...state.keys.devices.keys()].sort()).toEqual(['plug-1', 'plug-2']);
    expect(seen).toContain('/grafana/public/meterproof/pub_keys.json');
  });

  it('says "no keys" for a missing file, or for a web page answering in its place', async () => {
    expect(await load('public/meterproof/absent.json')).toEqual({ none: true, reason: expect.stringMatching(/no key file at/) });
    expect(await load('login')).toEqual({ none: true, reason: expect.stringMatching(/a web page answered/) });
  });

  it('reports a list that does not parse, a server error and no answer as errors', async () => {
    expect(await load('public/meterproof/broken.json')).toEqual({
      error: expect.stringMatching(/public-key list fetched from the key URL is not valid/),
    });
    expect(await load('boom')).toEqual({ error: expect.stringMatching(/HTTP 500/) });
    expect(await load('hang', 200)).toEqual({ error: expect.stringMatching(/did not answer in time/) });
    expect(await load('http://127.0.0.1:1/nothing-listens-here')).toEqual({ error: expect.stringMatching(/could not be fetched/) });
  });

  it('the data source settings say what the key URL gives, and store a typed URL in jsonData.keysUrl', async () => {
    const host = document.createElement('div');
    document.body.appendChild(host);
    const root = createRoot(host);
    const changes: Array<{ jsonData: Record<string, unknown> }> = [];
    const render = (keysUrl: string, publicKeys = '') =>
      act(async () =>
        root.render(
          React.createElement(ConfigEditor, {
            options: { url: 'http://influxdb:8086', jsonData: { database: 'telegraf', keysUrl, publicKeys }, secureJsonFields: {} },
            onOptionsChange: (o: { jsonData: Record<string, unknown> }) => changes.push(o),
          } as never),
        ),
      );
    const waitForText = async (re: RegExp) => {
      for (let i = 0; i < 100 && !re.test(host.textContent ?? ''); i++) await act(() => new Promise((r) => setTimeout(r, 20)));
      expect(host.textContent).toMatch(re);
    };
    await render(`${base}public/meterproof/pub_keys.json`, '{not json');
    await waitForText(/pub_keys\.json: 2 device\(s\) with keys/);
    // The pasted list is not used while a URL is set, so it is not flagged.
    expect(host.textContent).toMatch(/Not used: the key URL above is set/);
    await render(`${base}public/meterproof/absent.json`);
    await waitForText(/no key file at .*absent\.json: the panel shows "no keys"/);

    const input = host.querySelector<HTMLInputElement>('input[placeholder="public/meterproof/pub_keys.json"]')!;
    const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
    act(() => {
      setValue.call(input, 'public/keys.json');
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    expect(changes.at(-1)!.jsonData).toMatchObject({ database: 'telegraf', keysUrl: 'public/keys.json' });
    act(() => root.unmount());
    host.remove();
  });
});
