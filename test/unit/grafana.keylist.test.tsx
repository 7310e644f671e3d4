// @vitest-environment jsdom
// The panel's key list (useKeyList): where it comes from (the queried meterproof data source's keysUrl,
// else its pasted list, else any meterproof data source), "loading" until a key URL answers, "no keys"
// when the file is missing, and the same parsed list across refreshes while the file does not change,
// so the browser re-checks are not redone.
import '../harness/fixtures/grafana/jsdomSetup';
import * as React from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import type { DataQueryRequest } from '@grafana/data';
import { setDataSourceSrv, type DataSourceSrv } from '@grafana/runtime';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findKeySource, useKeyList, type KeyListState, type KeyText } from '../../grafana-plugin/panel/publicKeys';
import { deviceKey } from '../harness/fixtures/grafana/fleetFrames';

const TYPE = 'meterproof-trust-datasource';
let settings: Record<string, { type: string; jsonData: Record<string, unknown> }> = {};
setDataSourceSrv({
  getInstanceSettings: (ref: { uid?: string } | string | undefined) => settings[typeof ref === 'string' ? ref : (ref?.uid ?? '')],
  getList: ({ type }: { type?: string } = {}) =>
    Object.entries(settings)
      .filter(([, s]) => !type || s.type === type)
      .map(([uid, s]) => ({ uid, ...s })),
} as unknown as DataSourceSrv);

let keysA = '';
let keysB = '';
beforeAll(async () => {
  keysA = JSON.stringify({ 'plug-1': (await deviceKey(1)).publicHex });
  keysB = JSON.stringify({ 'plug-1': (await deviceKey(1)).publicHex, 'plug-2': (await deviceKey(2)).publicHex });
});

const request = (uid: string) => ({ targets: [{ refId: 'A', datasource: { uid } }] }) as unknown as DataQueryRequest;

/** A loader that records the URLs asked for and answers from `files` (a missing entry: 404). */
function fakeLoader(files: Record<string, string>) {
  const asked: string[] = [];
  const loader = async (url: string): Promise<KeyText> => {
    asked.push(url);
    return url in files ? { text: files[url]! } : { missing: `no key file at ${url}` };
  };
  return { asked, loader };
}

let root: Root | undefined;
let host: HTMLDivElement | undefined;
afterEach(() => {
  act(() => root?.unmount());
  host?.remove();
  root = host = undefined;
});

/** Renders a component that holds the hook; returns every state it showed and a re-render function. */
async function mount(props: { request: DataQueryRequest; enabled: boolean; loader: (url: string) => Promise<KeyText> }) {
  const states: KeyListState[] = [];
  function Probe(p: typeof props) {
    const state = useKeyList(p.request, p.enabled, p.loader);
    states.push(state);
    return null;
  }
  host = document.createElement('div');
  document.body.appendChild(host);
  await act(async () => {
    root = createRoot(host!);
    root.render(<Probe {...props} />);
  });
  const rerender = async (next: Partial<typeof props>) => {
    Object.assign(props, next);
    await act(async () => root!.render(<Probe {...props} />));
  };
  return { states, last: () => states[states.length - 1]!, rerender };
}

const devicesOf = (s: KeyListState) => ('keys' in s ? [...s.keys.devices.keys()].sort() : s);

describe('the panel key list', () => {
  it('prefers the key URL of the queried data source, then its pasted list, then any meterproof data source', () => {
    settings = {
      url: { type: TYPE, jsonData: { keysUrl: ' public/meterproof/pub_keys.json ', publicKeys: keysA } },
      pasted: { type: TYPE, jsonData: { publicKeys: keysA } },
      none: { type: TYPE, jsonData: {} },
      influx: { type: 'influxdb', jsonData: { keysUrl: 'elsewhere.json' } },
    };
    expect(findKeySource(request('url'))).toEqual({ url: 'public/meterproof/pub_keys.json' });
    expect(findKeySource(request('pasted'))).toEqual({ text: keysA });
    // Stock InfluxDB frames: the first meterproof data source that has keys.
    expect(findKeySource(request('influx'))).toEqual({ url: 'public/meterproof/pub_keys.json' });
    settings = { none: { type: TYPE, jsonData: {} }, influx: { type: 'influxdb', jsonData: {} } };
    expect(findKeySource(request('none'))).toBeUndefined();
  });

  it('fetches the key URL: loading first, then the keys, the same parsed list across refreshes, a new one when the file changes', async () => {
    settings = { mp: { type: TYPE, jsonData: { keysUrl: 'public/meterproof/pub_keys.json' } } };
    const files: Record<string, string> = { 'public/meterproof/pub_keys.json': keysA };
    const { asked, loader } = fakeLoader(files);
    const view = await mount({ request: request('mp'), enabled: true, loader });
    expect(view.states[0]).toEqual({ loading: true });
    expect(devicesOf(view.last())).toEqual(['plug-1']);
    const first = view.last();

    await view.rerender({ request: request('mp') }); // a dashboard refresh: a new request
    expect(asked).toHaveLength(2);
    expect(view.last()).toBe(first);

    files['public/meterproof/pub_keys.json'] = keysB; // a key was added to the file
    await view.rerender({ request: request('mp') });
    expect(asked).toHaveLength(3);
    expect(devicesOf(view.last())).toEqual(['plug-1', 'plug-2']);
  });

  it('says "no keys" when the file is missing, and asks for nothing when re-checks are off', async () => {
    settings = { mp: { type: TYPE, jsonData: { keysUrl: 'public/meterproof/pub_keys.json' } } };
    const missing = fakeLoader({});
    const view = await mount({ request: request('mp'), enabled: true, loader: missing.loader });
    expect(view.last()).toEqual({ none: true, reason: 'no key file at public/meterproof/pub_keys.json' });
    act(() => root!.unmount());
    root = undefined;

    const off = fakeLoader({ 'public/meterproof/pub_keys.json': keysA });
    const offView = await mount({ request: request('mp'), enabled: false, loader: off.loader });
    expect(offView.last()).toEqual({ none: true });
    expect(off.asked).toEqual([]);
  });

  it('uses a pasted list without fetching anything', async () => {
    settings = { mp: { type: TYPE, jsonData: { publicKeys: keysA } } };
    const { asked, loader } = fakeLoader({});
    const view = await mount({ request: request('mp'), enabled: true, loader });
    expect(view.states.every((s) => 'keys' in s)).toBe(true);
    expect(devicesOf(view.last())).toEqual(['plug-1']);
    expect(asked).toEqual([]);
  });
});
