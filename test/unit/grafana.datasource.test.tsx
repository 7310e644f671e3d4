// @vitest-environment jsdom
// The data source against a mocked Grafana runtime: the requests it sends through the proxy route,
// response-to-frame conversion for each query type, variables, and the health check's diagnoses.
import '../harness/fixtures/grafana/jsdomSetup';
import { FieldType, type DataFrame, type DataQueryRequest } from '@grafana/data';
import { setBackendSrv, setTemplateSrv, type BackendSrv, type BackendSrvRequest, type TemplateSrv } from '@grafana/runtime';
import { of, throwError } from 'rxjs';
import { beforeEach, describe, expect, it } from 'vitest';
import * as React from 'react';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { ConfigEditor } from '../../grafana-plugin/datasource/ConfigEditor';
import { classifyFailure } from '../../grafana-plugin/datasource/influxAnswers';
import { phaseStatements, trustStatements } from '../../grafana-plugin/datasource/statements';
import type { TrustOptions, TrustQuery } from '../../grafana-plugin/datasource/types';
import { TRUST_FRAME_KIND } from '../../grafana-plugin/shared/trustFrame';
import TRUST_RESPONSE from '../harness/fixtures/grafana/trust-response.json';
import { queryRequest, timeRange, trustDataSource } from '../harness/fixtures/grafana/dataSourceRequests';
import { fetchErrorOf } from '../harness/grafana-backend-srv';
import { answerByStatement } from '../harness/fixtures/grafana/fleetFrames';

type Reply = { data: unknown } | { error: { status: number; data?: unknown } };
let sent: BackendSrvRequest[] = [];
let reply: (q: string) => Reply;

setBackendSrv({
  fetch: (req: BackendSrvRequest) => {
    sent.push(req);
    const r = reply(new URLSearchParams(String(req.data)).get('q') ?? '');
    return 'error' in r ? throwError(() => r.error) : of({ data: r.data, status: 200, ok: true });
  },
} as unknown as BackendSrv);

const VARIABLES: Record<string, string | string[]> = { device: ["it's", 'plug.2'], one: 'back\\slash' };
setTemplateSrv({
  getVariables: () => [],
  containsTemplate: () => false,
  updateTimeRange: () => {},
  replace: (target = '', _vars: unknown, format?: unknown) =>
    target.replace(/\$\{?(\w+)\}?/g, (m, name: string) =>
      name in VARIABLES ? (typeof format === 'function' ? format(VARIABLES[name]) : String(VARIABLES[name])) : m,
    ),
} as unknown as TemplateSrv);

const dataSource = (jsonData: Partial<TrustOptions> = {}) => trustDataSource({ database: 'telegraf', ...jsonData });
const request = (targets: TrustQuery[], extra: Partial<DataQueryRequest<TrustQuery>> = {}) =>
  queryRequest(targets, { fromMs: 0, toMs: 9000, intervalMs: 1000 }, extra);

const column = (f: DataFrame, name: string) => f.fields.find((x) => x.name === name)!.values;
const statementOf = (r: BackendSrvRequest) => new URLSearchParams(String(r.data)).get('q');

/** The trust statements of `request()`'s range; each request answered by the statement it carries (by what precedes its WHERE). */
const TRUST = trustStatements({ measurement: 'mqtt_consumer', totalField: 'ENERGY_Total', fromMs: 0, toMs: 9000, filters: [] });
const trustReply = (response: { results: unknown[] }) => {
  const answer = answerByStatement(response.results);
  return (q: string): Reply => ({ data: answer(q) });
};

beforeEach(() => {
  sent = [];
  reply = () => ({ data: { results: [] } });
});

describe('queries', () => {
  it('counts verified rows of a long range from the hourly counts the settings name, and only then', async () => {
    const month = (jsonData: Partial<TrustOptions>) =>
      dataSource(jsonData).query(request([{ refId: 'A', queryType: 'trust' }], { range: timeRange(0, 30 * 86_400_000) }));
    const hourly = () => sent.map(statementOf).filter((q) => q?.includes('"meterproof_readings_1h"'));
    await month({});
    expect(hourly()).toEqual([]);
    sent = [];
    await month({ hourlyCounts: ' meterproof_readings_1h ' });
    expect(hourly().length).toBeGreaterThan(0);
  });

  it('sends one statement per request, in parallel, through the route of its authentication, with no secret', async () => {
    reply = trustReply(TRUST_RESPONSE);
    await dataSource().query(request([{ refId: 'A', queryType: 'trust' }]));
    // Which devices have phases, the counts; no window (it would span the whole range of this sparse fleet), so the row statements
    // for every device (trust.ts).
    const scope = { measurement: 'mqtt_consumer', totalField: 'ENERGY_Total', fromMs: 0, toMs: 9000, filters: [] };
    expect(sent.map(statementOf)).toEqual([phaseStatements(scope).last, TRUST[2], TRUST[3], TRUST[0], TRUST[1]]);
    for (const req of sent) {
      expect(req.url).toBe('/api/datasources/proxy/uid/mp/query-none');
      expect(req.method).toBe('POST');
      expect(req.params).toEqual({ db: 'telegraf', epoch: 'ms' });
      expect(req.headers?.['Content-Type']).toBe('application/x-www-form-urlencoded');
      expect(JSON.stringify(req)).not.toMatch(/password|token|"u"|"p"/i);
    }
    // Grafana cancels a running request when another starts with the same id.
    expect(new Set(sent.map((r) => r.requestId)).size).toBe(sent.length);
  });

  it('takes the route of the configured authentication: u/p, a token header, or neither', async () => {
    const route = async (jsonData: Partial<TrustOptions>) => {
      sent = [];
      reply = () => ({ data: { results: [{}] } });
      await dataSource(jsonData).metricFindQuery('');
      return sent[0]!.url;
    };
    expect(await route({ authType: 'password', user: 'reader' })).toBe('/api/datasources/proxy/uid/mp/query-user');
    expect(await route({ authType: 'token' })).toBe('/api/datasources/proxy/uid/mp/query-token');
    expect(await route({ authType: 'none' })).toBe('/api/datasources/proxy/uid/mp/query-none');
    expect(await route({ user: 'reader' })).toBe('/api/datasources/proxy/uid/mp/query-user'); // saved before authType
    expect(await route({})).toBe('/api/datasources/proxy/uid/mp/query-none');
  });

  it('turns the trust statements into one row per device', async () => {
    reply = trustReply(TRUST_RESPONSE);
    const { data } = await dataSource().query(request([{ refId: 'A', queryType: 'trust' }]));
    const [frame] = data as DataFrame[];
    expect(frame!.meta?.custom).toEqual({ meterproof: TRUST_FRAME_KIND });
    expect(column(frame!, 'device')).toEqual(['a', 'b', 'c']);
    expect(column(frame!, 'verify_status')).toEqual(['bad_signature', 'ok', 'unsigned']);
    expect(column(frame!, 'verified')).toEqual([false, true, false]);
    expect(column(frame!, 'verdict')).toEqual(['bad_signature', 'ok', 'unsigned']);
    expect(column(frame!, 'last_seen')).toEqual([2000, 1500, 2500]);
    expect(column(frame!, 'signed_at')).toEqual([1000, 1500, null]);
    expect(column(frame!, 'signed_total')).toEqual([1.5, null, null]);
    expect(column(frame!, 'signed_values')).toEqual([[1.5], [1.5, 2.25, 3], null]);
    expect(column(frame!, 'signed_message')).toEqual(['2023-01-01T00:00:00,1.500', '2023-01-01T00:00:00,[1.500,2.250,3.000]', null]);
    expect(column(frame!, 'readings')).toEqual([3, 1, 2]);
    expect(column(frame!, 'verified_share')).toEqual([2 / 3, 1, 0]);
    expect(column(frame!, 'count_bad_signature')).toEqual([1, 0, 0]);
    expect(column(frame!, 'count_unsigned')).toEqual([0, 0, 2]);
    expect(frame!.fields.find((f) => f.name === 'signed_at')!.type).toBe(FieldType.time);
  });

  it('returns signed totals per device and phase, and events with reasons', async () => {
    reply = (q) =>
      q.startsWith('SELECT last(')
        ? {
            data: {
              results: [
                {
                  series: [
                    {
                      tags: { device: 'p1' },
                      columns: ['time', 'last_ENERGY_Total', 'last_ENERGY_Total_0'],
                      values: [
                        [1000, 1.5, null],
                        [2000, 1.75, null],
                      ],
                    },
                    {
                      tags: { device: 'p3' },
                      columns: ['time', 'last_ENERGY_Total', 'last_ENERGY_Total_0', 'last_ENERGY_Total_1'],
                      values: [[1000, null, 10, 20]],
                    },
                  ],
                },
              ],
            },
          }
        : {
            data: {
              results: [
                {
                  series: [
                    {
                      columns: ['time', 'device', 'verify_status', 'topic', 'Time', 'ENERGY_Total', 'ENERGY_Total_0', 'Signature'],
                      values: [[3000, 'p9', 'unknown_device', 'tele/p9/SENSOR', '2023-01-01T00:00:03', 2.5, null, 'ab']],
                    },
                  ],
                },
              ],
            },
          };
    const ds = dataSource();
    const totals = (await ds.query(request([{ refId: 'T', queryType: 'totals' }]))).data as DataFrame[];
    expect(totals.map((f) => f.name)).toEqual(['p1', 'p3 L1', 'p3 L2']);
    expect(totals[0]!.fields[1]!.values).toEqual([1.5, 1.75]);
    expect(totals[0]!.fields[1]!.labels).toEqual({ device: 'p1' });
    expect(totals[2]!.fields[1]!.values).toEqual([20]);
    expect(new URLSearchParams(String(sent[0]!.data)).get('q')).toContain('GROUP BY time(1s), "device"::tag fill(none)');

    const [events] = (await ds.query(request([{ refId: 'E', queryType: 'events', limit: 7 }]))).data as DataFrame[];
    expect(new URLSearchParams(String(sent[1]!.data)).get('q')).toMatch(/LIMIT 7$/);
    expect(events!.fields.map((f) => f.name)).toEqual(['time', 'device', 'verify_status', 'reason', 'Time', 'ENERGY_Total', 'topic']);
    expect(column(events!, 'reason')).toEqual(['No usable public key is registered for this device']);
  });

  it('formats multi-value variables and ad-hoc filters with its own escaping', async () => {
    await dataSource().query(
      request([{ refId: 'A', queryType: 'events', device: '$device' }], {
        filters: [{ key: 'host', operator: '=', value: "x'; DROP DATABASE telegraf; --" }],
      }),
    );
    const q = new URLSearchParams(String(sent[0]!.data)).get('q')!;
    expect(q).toContain(`"device"::tag =~ /^(?:(?:it\\x{27}s|plug\\x{2e}2))$/`);
    expect(q).toContain(`"host"::tag = 'x\\'; DROP DATABASE telegraf; --'`);
    expect(q).not.toContain("'it's'");
  });

  it('offers devices to template variables via metricFindQuery', async () => {
    reply = () => ({
      data: {
        results: [
          {
            series: [
              {
                columns: ['key', 'value'],
                values: [
                  ['device', 'plug-1'],
                  ['device', "it's"],
                ],
              },
            ],
          },
        ],
      },
    });
    expect(await dataSource().metricFindQuery('$one')).toEqual([
      { text: 'plug-1', value: 'plug-1' },
      { text: "it's", value: "it's" },
    ]);
    expect(new URLSearchParams(String(sent[0]!.data)).get('q')).toBe(
      'SHOW TAG VALUES FROM "mqtt_consumer" WITH KEY = "device" WHERE "device"::tag =~ /^(?:back\\x{5c}slash)$/',
    );
  });

  it('reports a statement error as a query error', async () => {
    reply = () => ({ data: { results: [{ statement_id: 0, error: 'error parsing query: found EOF' }] } });
    await expect(dataSource().query(request([{ refId: 'A' }]))).rejects.toThrow(/InfluxDB error: error parsing query/);
  });
});

describe('health check', () => {
  const health = (jsonData?: Partial<TrustOptions>) => dataSource(jsonData).testDatasource();
  // One request per statement: SHOW TAG KEYS, then the values of "verified" and of "device".
  const tagReply =
    (keys: string[], verified: string[], devices: string[]) =>
    (q: string): Reply => {
      const series = (key: string, values: string[]) =>
        values.length ? [{ columns: ['key', 'value'], values: values.map((v) => [key, v]) }] : [];
      if (q.startsWith('SHOW TAG KEYS'))
        return { data: { results: [{ series: keys.length ? [{ columns: ['tagKey'], values: keys.map((k) => [k]) }] : [] }] } };
      if (q.includes('WITH KEY = "verified"')) return { data: { results: [{ series: series('verified', verified) }] } };
      if (q.includes('WITH KEY = "device"')) return { data: { results: [{ series: series('device', devices) }] } };
      throw new Error(`unexpected statement ${q}`);
    };

  // Errors as Grafana's BackendSrv hands them to a plugin (test/harness/grafana-backend-srv.ts).
  it('says InfluxDB is unreachable', async () => {
    // Grafana's proxy answers 502 with an empty body when it cannot connect.
    reply = () => ({ error: fetchErrorOf(502, 'Bad Gateway', '') });
    expect(await health()).toMatchObject({ status: 'error', message: expect.stringMatching(/^InfluxDB is unreachable/) });
  });

  it('says the credentials were refused (Grafana turns 401 into a text 400), in Save & test and in queries', async () => {
    // pkg/api/pluginproxy/ds_proxy.go: the body is the text below, no Content-Type; BackendSrv makes it
    // { message: text, error: 'Bad Request' }.
    reply = () => ({ error: fetchErrorOf(400, 'Bad Request', 'Authentication to data source failed') });
    expect((await health()).message).toBe(
      'InfluxDB refused the credentials (Authentication to data source failed): check the user and password, or the token',
    );
    await expect(dataSource().query(request([{ refId: 'A' }]))).rejects.toThrow(/^InfluxDB refused the credentials/);
    reply = () => ({ error: fetchErrorOf(403, 'Forbidden', '{"error":"user not authorized to execute statement"}', 'application/json') });
    expect((await health()).message).toMatch(/^InfluxDB refused the credentials \(user not authorized/);
  });

  it("says when Grafana's proxy is too old for the routes, or refuses the role", async () => {
    reply = () => ({ error: fetchErrorOf(404, 'Not Found', '404 page not found\n') });
    expect((await health()).message).toMatch(/^InfluxDB answered 404 Not Found .*Grafana must be 10\.4 or later/);
    reply = () => ({
      error: fetchErrorOf(403, 'Forbidden', '{"message":"plugin proxy route access denied"}\n', 'application/json; charset=UTF-8'),
    });
    expect((await health()).message).toMatch(/^Grafana's proxy refused this request for your role/);
  });

  it('says the database is missing', async () => {
    reply = () => ({ data: { results: [{ statement_id: 0, error: 'database not found: telegraf' }] } });
    expect((await health()).message).toBe('Database "telegraf" does not exist on this InfluxDB: check the database name');
  });

  it('says no verified tag was seen yet, or no rows at all', async () => {
    reply = tagReply(['device', 'host', 'topic'], [], ['plug-1']);
    expect((await health()).message).toMatch(/no row in database "telegraf", measurement "mqtt_consumer" has a "verified" tag yet/);
    reply = tagReply([], [], []);
    expect((await health({ measurement: 'energy' })).message).toMatch(/measurement "energy" has no rows/);
  });

  it('succeeds and reports the key list', async () => {
    reply = tagReply(['device', 'verified', 'verify_status'], ['false', 'true'], ['a', 'b']);
    const key = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
    const ok = await health({ publicKeys: JSON.stringify({ a: key, b: '01' + '00'.repeat(31) }) });
    expect(ok.status).toBe('success');
    expect(ok.message).toMatch(
      /2 device\(s\), verified tag seen; 1 device key\(s\) for browser re-checks; refused: device "b": key has small order/,
    );
    expect((await health({ publicKeys: '{not json' })).message).toMatch(/public-key list is not valid: not valid JSON/);
    expect((await health({ database: '' })).message).toMatch(/No database is set/);
  });

  it('classifies transport failures', () => {
    expect(classifyFailure(undefined, '').kind).toBe('unreachable');
    expect(classifyFailure(504, 'Gateway Timeout').kind).toBe('unreachable');
    expect(classifyFailure(401, '{"error":"authorization failed"}').kind).toBe('auth');
    expect(classifyFailure(200, 'database not found: x').kind).toBe('database');
    expect(classifyFailure(400, 'error parsing query').kind).toBe('query');
  });
});

describe('config editor', () => {
  it('clears the other credentials when the authentication changes', async () => {
    const changes: Array<Record<string, any>> = [];
    const options = {
      url: 'http://influxdb:8086',
      jsonData: { database: 'telegraf', authType: 'password', user: 'reader', publicKeys: '{"a": "01' + '00'.repeat(31) + '"}' },
      secureJsonFields: { password: true },
      secureJsonData: {},
    };
    const host = document.createElement('div');
    document.body.appendChild(host);
    const root = createRoot(host);
    await act(async () => root.render(React.createElement(ConfigEditor, { options, onOptionsChange: (o: any) => changes.push(o) } as any)));
    expect(host.textContent).toMatch(/refused: device "a": key has small order/);
    const token = [...host.querySelectorAll('label')].find((l) => l.textContent === 'Token (InfluxDB 2.x/3.x)')!;
    act(() => token.click());
    expect(changes.at(-1)).toMatchObject({
      jsonData: { authType: 'token', user: '' },
      secureJsonFields: { password: false, token: false },
      secureJsonData: { password: '' },
    });
    act(() => root.unmount());
    host.remove();
  });
});
