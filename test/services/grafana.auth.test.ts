// @vitest-environment jsdom
/**
 * The data source against a real InfluxDB 1.6 with authentication on, through Grafana's proxy as
 * Grafana applies the shipped plugin.json routes (test/harness/grafana-proxy.ts) and with Grafana's
 * BackendSrv error shapes (test/harness/grafana-backend-srv.ts): a read-only user works, refused
 * credentials are named as such in Save & test and in queries, the read-only user cannot change
 * anything, and a Viewer cannot reach /write even where Grafana's own basic auth would carry an
 * administrator's credentials.
 */
import '../harness/fixtures/grafana/jsdomSetup';
import { readFileSync } from 'node:fs';
import type { DataFrame } from '@grafana/data';
import { setBackendSrv, setTemplateSrv, type TemplateSrv } from '@grafana/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRUST_COUNT_STATEMENTS, trustStatements } from '../../grafana-plugin/datasource/statements';
import type { TrustOptions } from '../../grafana-plugin/datasource/types';
import { queryRequest, trustDataSource } from '../harness/fixtures/grafana/dataSourceRequests';
import { grafanaBackendSrv } from '../harness/grafana-backend-srv';
import { startGrafanaProxy, type GrafanaProxy, type PluginRoute, type ProxiedDataSource } from '../harness/grafana-proxy';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';

const ROUTES = (JSON.parse(readFileSync('grafana-plugin/datasource/plugin.json', 'utf8')) as { routes: PluginRoute[] }).routes;
const ADMIN = { username: 'admin', password: 'admin-secret' };
const READER = { user: 'grafana_reader', password: 'reader-secret' };
const DB = 'telegraf';
const T = Date.now() - 60_000;

setTemplateSrv({
  replace: (s = '') => s,
  getVariables: () => [],
  containsTemplate: () => false,
  updateTimeRange: () => {},
} as unknown as TemplateSrv);

let influx: InfluxServer;
const proxies: GrafanaProxy[] = [];

const row = (device: string, ok: boolean, ms: number) =>
  `mqtt_consumer,device=${device},verified=${ok},verify_status=${ok ? 'ok' : 'bad_signature'} ENERGY_Total=1.5,Time="2025-06-15T15:06:40",` +
  `Signature="${'ab'.repeat(64)}"${ok ? ',signed_message="2025-06-15T15:06:40,1.500"' : ''} ${ms}000000`;

beforeAll(async () => {
  influx = await startInfluxDB({ auth: ADMIN });
  await influx.query(`CREATE DATABASE "${DB}"`);
  await influx.write(DB, [row('plug-1', true, T - 1000), row('plug-1', true, T), row('plug-2', false, T)].join('\n'));
  await influx.query(`CREATE USER "${READER.user}" WITH PASSWORD '${READER.password}'`);
  await influx.query(`GRANT READ ON "${DB}" TO "${READER.user}"`);
});

afterAll(async () => {
  await Promise.allSettled(proxies.map((p) => p.stop()));
  await influx?.stop();
});

/** A fake Grafana with this data source, and the data source as the browser builds it. */
async function setup(jsonData: TrustOptions, secureJsonData: Record<string, string>, extra: Partial<ProxiedDataSource> = {}) {
  const settings = { database: DB, ...jsonData };
  const proxy = await startGrafanaProxy(ROUTES, {
    url: influx.url,
    jsonData: settings as Record<string, unknown>,
    secureJsonData,
    ...extra,
  });
  proxies.push(proxy);
  setBackendSrv(grafanaBackendSrv(proxy.url));
  const ds = trustDataSource(settings);
  return { proxy, ds };
}

const trustRequest = () =>
  queryRequest([{ refId: 'A', queryType: 'trust' }], { fromMs: T - 3_600_000, toMs: T + 60_000, intervalMs: 10_000 }, { requestId: 'r' });
const column = (f: DataFrame, name: string) => f.fields.find((x) => x.name === name)!.values;

describe('a read-only InfluxDB user through the query-user route', () => {
  it('passes Save & test and answers Trust status, one statement per request, u and p added by Grafana', async () => {
    const { proxy, ds } = await setup({ authType: 'password', user: READER.user }, { password: READER.password });
    expect(await ds.testDatasource()).toEqual({
      status: 'success',
      message: `Connected to database "${DB}", measurement "mqtt_consumer": 2 device(s), verified tag seen; no public keys configured, so the panel cannot re-check signatures in the browser.`,
    });
    proxy.upstream.length = 0;
    const { data } = await ds.query(trustRequest());
    const frame = data[0] as DataFrame;
    expect(column(frame, 'device')).toEqual(['plug-1', 'plug-2']);
    expect(column(frame, 'verdict')).toEqual(['ok', 'bad_signature']);
    expect(column(frame, 'readings')).toEqual([2, 1]);
    // What reached InfluxDB: /query, the reader's u and p from the route, one statement each (the counts,
    // then the window or the row statements: trust.ts).
    const statements = trustStatements({
      measurement: 'mqtt_consumer',
      totalField: 'ENERGY_Total',
      fromMs: T - 3_600_000,
      toMs: T + 60_000,
      filters: [],
    });
    const sentQueries = proxy.upstream.map((u) => new URLSearchParams(u.body).get('q'));
    expect(sentQueries.sort()).toEqual(String(frame.meta?.executedQueryString).split(';\n').sort());
    expect(sentQueries).toEqual(expect.arrayContaining(TRUST_COUNT_STATEMENTS.map((i) => statements[i])));
    for (const u of proxy.upstream) {
      const url = new URL(u.url);
      expect(url.pathname).toBe('/query');
      expect(Object.fromEntries(url.searchParams)).toEqual({ db: DB, epoch: 'ms', u: READER.user, p: READER.password });
      expect(u.headers.Authorization).toBeUndefined();
    }
  });

  it('cannot change anything, whatever InfluxQL a viewer sends through the data source', async () => {
    const { ds } = await setup({ authType: 'password', user: READER.user }, { password: READER.password });
    const client = (ds as unknown as { client: { run(s: string[]): Promise<unknown> } }).client;
    await expect(client.run([`DROP DATABASE "${DB}"`])).rejects.toThrow(/^InfluxDB refused the credentials \(.*not authorized/);
    await expect(client.run([`SELECT * INTO "copy" FROM "mqtt_consumer"`])).rejects.toThrow(/not authorized/);
    expect(JSON.stringify(await influx.query('SHOW DATABASES'))).toContain(`"${DB}"`);
  });
});

describe('refused credentials are named as such (Grafana turns the 401 into a 400)', () => {
  it.each([
    ['a wrong password', { authType: 'password', user: READER.user }, { password: 'wrong' }],
    ['no credentials', { authType: 'none' }, {}],
    // InfluxDB 1.6 knows no Token scheme (1.8 and later take `Token user:password`, 2.x and 3.x a token).
    ['a token InfluxDB 1.6 does not take', { authType: 'token' }, { token: `${READER.user}:${READER.password}` }],
  ] as const)('%s: in Save & test and in a query', async (_, jsonData, secure) => {
    const { proxy, ds } = await setup(jsonData as TrustOptions, secure);
    const refused = 'InfluxDB refused the credentials (Authentication to data source failed): check the user and password, or the token';
    expect(await ds.testDatasource()).toEqual({ status: 'error', message: refused });
    await expect(ds.query(trustRequest())).rejects.toThrow(refused);
    const sent = new URL(proxy.upstream.at(-1)!.url);
    expect(sent.searchParams.has('u') || sent.searchParams.has('p')).toBe(jsonData.authType === 'password');
  });
});

describe('what a Viewer reaches through the proxy', () => {
  // Grafana's own basic auth, here with the administrator (a proxy in front of InfluxDB, say): the
  // director adds it to every request, routes or not.
  const basic = { basicAuth: { user: ADMIN.username, password: ADMIN.password } };
  const points = async () => {
    const [r] = await influx.query('SELECT count("ENERGY_Total") FROM "mqtt_consumer"', DB);
    return (r!.series?.[0]?.values[0]?.[1] as number) ?? 0;
  };
  const post = (proxy: GrafanaProxy, path: string) =>
    fetch(`${proxy.url}/api/datasources/proxy/uid/mp/${path}`, { method: 'POST', body: row('forged', true, Date.now()) });

  it('not /write, nor an encoded or dotted way to it; an Admin does', async () => {
    const { proxy } = await setup({ authType: 'none' }, {}, basic);
    const before = await points();
    for (const path of [`write?db=${DB}`, `%77rite?db=${DB}`, `./write?db=${DB}`, `query-none/../write?db=${DB}`, `debug/vars`]) {
      const res = await post(proxy, path);
      expect(res.status, path).toBe(403);
      expect(await res.json()).toEqual({ message: 'plugin proxy route access denied' });
    }
    expect(await points()).toBe(before);
    expect(proxy.upstream).toEqual([]);
    proxy.role = 'Admin';
    expect((await post(proxy, `write?db=${DB}`)).status).toBe(204);
    expect(await points()).toBe(before + 1);
  });
});
