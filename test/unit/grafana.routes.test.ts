// The data source's plugin.json routes, applied as Grafana's proxy applies them (test/harness/grafana-proxy.ts,
// reproduced from pkg/api/pluginproxy): what reaches InfluxDB for each kind of authentication, and what a
// Viewer can reach at all.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { executeGoTemplate, GoTemplateError } from '../harness/go-template';
import {
  cleanRelativePath,
  joinURLFragments,
  proxyDecision,
  type IncomingProxyRequest,
  type OrgRole,
  type PluginRoute,
  type ProxiedDataSource,
} from '../harness/grafana-proxy';
import { QUERY_ROUTES } from '../../grafana-plugin/datasource/routes';

const ROUTES = (JSON.parse(readFileSync('grafana-plugin/datasource/plugin.json', 'utf8')) as { routes: PluginRoute[] }).routes;
/** The single route shipped before: `u`, `p` and the Authorization header on every request. */
const OLD_ROUTES: PluginRoute[] = [
  {
    path: 'query',
    headers: [{ name: 'Authorization', content: '{{ if .SecureJsonData.token }}Token {{ .SecureJsonData.token }}{{ end }}' }],
    urlParams: [
      { name: 'u', content: '{{ if .JsonData.user }}{{ .JsonData.user }}{{ end }}' },
      { name: 'p', content: '{{ if .SecureJsonData.password }}{{ .SecureJsonData.password }}{{ end }}' },
    ],
  },
];

const data = (over: Partial<{ URL: string; JsonData: Record<string, unknown>; SecureJsonData: Record<string, string> }> = {}) => ({
  URL: 'http://influxdb:8086',
  JsonData: {},
  SecureJsonData: {},
  ...over,
});

describe('Go text/template as Grafana executes route templates', () => {
  it('prints a missing key as <no value> and treats it as false', () => {
    expect(executeGoTemplate('u={{ .JsonData.user }}', data())).toBe('u=<no value>');
    expect(executeGoTemplate('u={{ .SecureJsonData.password }}', data())).toBe('u=<no value>');
    expect(executeGoTemplate('{{ if .JsonData.user }}{{ .JsonData.user }}{{ end }}', data())).toBe('');
    expect(executeGoTemplate('{{ if .JsonData.user }}{{ .JsonData.user }}{{ else }}none{{ end }}', data({ JsonData: { user: 'r' } }))).toBe(
      'r',
    );
    expect(
      executeGoTemplate(
        '{{ .JsonData.n }} {{ .JsonData.f }} {{ .JsonData.b }} {{ .JsonData.z }}',
        data({ JsonData: { n: 3, f: 1.5, b: true, z: null } }),
      ),
    ).toBe('3 1.5 true <nil>');
    expect(executeGoTemplate('{{ eq .JsonData.authType "token" }}', data())).toBe('false');
    expect(executeGoTemplate('{{- " a " -}} b', data())).toBe(' a b');
    expect(() => executeGoTemplate('{{ .Nope }}', data())).toThrow(/can't evaluate field Nope/);
    expect(() => executeGoTemplate('{{ slice .URL 99 }}', data())).toThrow(GoTemplateError);
    expect(() => executeGoTemplate('{{ eq 1 "1" }}', data())).toThrow(/incompatible types/);
    expect(() => executeGoTemplate('{{ range .JsonData }}{{ end }}', data())).toThrow(/not supported/);
  });

  it("joins the data source URL and /query, with or without the URL's trailing slash", () => {
    const url = ROUTES.find((r) => r.path === QUERY_ROUTES.none)!.url!;
    for (const [base, want] of [
      ['http://influxdb:8086', 'http://influxdb:8086/query'],
      ['http://influxdb:8086/', 'http://influxdb:8086/query'],
      ['https://example.org/influx', 'https://example.org/influx/query'],
      ['https://example.org/influx/', 'https://example.org/influx/query'],
    ]) {
      expect(executeGoTemplate(url, data({ URL: base! }))).toBe(want);
    }
  });

  it('cleans and joins paths as pkg/plugins and pkg/util do', () => {
    expect(['', '.', '/', 'a/../', 'query-none/../write', '//api//admin', './%77rite'].map(cleanRelativePath)).toEqual([
      '.',
      '.',
      '.',
      '.',
      'write',
      'api/admin',
      '%77rite',
    ]);
    expect([joinURLFragments('', 'x'), joinURLFragments('/a/', '/b'), joinURLFragments('/a', 'b'), joinURLFragments('/q', '')]).toEqual([
      '/x',
      '/a/b',
      '/a/b',
      '/q',
    ]);
  });
});

const DB_PARAMS = 'db=telegraf&epoch=ms';
const request = (proxyPath: string, role: OrgRole = 'Viewer', method = 'POST'): IncomingProxyRequest => ({
  method,
  proxyPath,
  rawQuery: DB_PARAMS,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  role,
});
const ds = (
  jsonData: Record<string, unknown>,
  secureJsonData: Record<string, string> = {},
  extra: Partial<ProxiedDataSource> = {},
): ProxiedDataSource => ({
  url: 'http://influxdb:8086',
  jsonData,
  secureJsonData,
  ...extra,
});
const upstream = (routes: readonly PluginRoute[], d: ProxiedDataSource, proxyPath: string, role?: OrgRole) => {
  const decision = proxyDecision(routes, d, request(proxyPath, role));
  if ('denied' in decision) throw new Error(`denied: ${decision.denied.body}`);
  return decision.upstream;
};
const params = (url: string) => [...new URL(url).searchParams.keys()];

describe('the query routes, as Grafana applies them', () => {
  const password = ds({ authType: 'password', user: 'grafana_reader' }, { password: 's3cret' });
  const token = ds({ authType: 'token' }, { token: 'tok' });
  const none = ds({ authType: 'none' });

  it('sends u and p only on the user route, the token only as a header on the token route', () => {
    expect(upstream(ROUTES, password, QUERY_ROUTES.password)).toEqual({
      method: 'POST',
      url: `http://influxdb:8086/query?${DB_PARAMS}&p=s3cret&u=grafana_reader`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(upstream(ROUTES, token, QUERY_ROUTES.token)).toEqual({
      method: 'POST',
      url: `http://influxdb:8086/query?${DB_PARAMS}`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: 'Token tok' },
    });
    expect(upstream(ROUTES, none, QUERY_ROUTES.none)).toEqual({
      method: 'POST',
      url: `http://influxdb:8086/query?${DB_PARAMS}`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
  });

  it('before: one route sent an empty p= (which InfluxDB 3 reads before the header) and an empty Authorization', () => {
    const old = upstream(OLD_ROUTES, token, 'query');
    expect(params(old.url)).toEqual(['db', 'epoch', 'p', 'u']);
    expect(new URL(old.url).searchParams.get('p')).toBe('');
    expect(upstream(OLD_ROUTES, none, 'query').headers.Authorization).toBe('');
  });

  it("keeps Grafana's basic auth on the user and no-auth routes", () => {
    const basic = { basicAuth: { user: 'proxy-user', password: 'proxy-pass' } };
    const expected = `Basic ${Buffer.from('proxy-user:proxy-pass').toString('base64')}`;
    expect(upstream(ROUTES, { ...none, ...basic }, QUERY_ROUTES.none).headers.Authorization).toBe(expected);
    expect(upstream(ROUTES, { ...password, ...basic }, QUERY_ROUTES.password).headers.Authorization).toBe(expected);
    // The token is the Authorization header: it replaces basic auth (docs/grafana.md says so).
    expect(upstream(ROUTES, { ...token, ...basic }, QUERY_ROUTES.token).headers.Authorization).toBe('Token tok');
    // Before, an unset token still set an empty Authorization, wiping basic auth out.
    expect(upstream(OLD_ROUTES, { ...none, ...basic }, 'query').headers.Authorization).toBe('');
  });

  it('sends nothing secret on a route that does not belong to the configured authentication', () => {
    // A viewer may call any route; the wrong one carries no credentials (and InfluxDB refuses it).
    expect(params(upstream(ROUTES, token, QUERY_ROUTES.password).url)).toEqual(['db', 'epoch', 'p', 'u']);
    expect(new URL(upstream(ROUTES, token, QUERY_ROUTES.password).url).search).toBe(`?${DB_PARAMS}&p=&u=`);
    expect(upstream(ROUTES, password, QUERY_ROUTES.token).headers.Authorization).toBe('Token ');
  });

  it('never lets a path under a query route reach anything but /query', () => {
    for (const path of ['query-none/write', 'query-token%2F..%2Fwrite', 'query-nonewrite', 'query-user/debug/vars']) {
      const u = upstream(ROUTES, password, path);
      expect(new URL(u.url).pathname, path).toMatch(/^\/query(\/|$)/); // InfluxDB answers 404 below /query
    }
    expect('denied' in proxyDecision(ROUTES, password, request('query-user/../../write'))).toBe(true);
  });
});

describe('what a Viewer can reach through the proxy', () => {
  const open = ds({ authType: 'none' });
  const DANGEROUS = [
    'write',
    'debug/pprof/',
    'debug/vars',
    'debug/requests',
    'api/v2/write',
    'api/v2/authorizations',
    'api/v3/write_lp',
    'query',
    'ping',
    'metrics',
    '%77rite', // Grafana matches routes on the escaped path, but unescapes it for InfluxDB
    '%64ebug/vars',
    './write',
    'x/../write',
    'query-none/../write',
    // Grafana matches the cleaned path but appends the raw rest to the route's URL: /query/../write.
    'query-user../write',
    'query-token../debug/vars',
    'query-none../api/v2/write',
    '.%2E/write',
  ];

  it.each(DANGEROUS)('refuses %s to a Viewer and an Editor, and lets an Admin through', (path) => {
    for (const role of ['Viewer', 'Editor'] as const) {
      const d = proxyDecision(ROUTES, open, request(path, role));
      expect('denied' in d && d.denied, `${role} ${path}`).toEqual({
        status: 403,
        body: '{"message":"plugin proxy route access denied"}\n',
        headers: { 'Content-Type': 'application/json; charset=UTF-8' },
      });
    }
    expect('upstream' in proxyDecision(ROUTES, open, request(path, 'Admin'))).toBe(true);
  });

  it('before, every one of them reached InfluxDB, /write included', () => {
    for (const path of DANGEROUS.filter((p) => !p.startsWith('query'))) {
      const d = proxyDecision(OLD_ROUTES, open, request(path));
      expect('upstream' in d, path).toBe(true);
    }
    expect(
      'upstream' in proxyDecision(OLD_ROUTES, open, request('%77rite')) &&
        new URL((proxyDecision(OLD_ROUTES, open, request('%77rite')) as { upstream: { url: string } }).upstream.url).pathname,
    ).toBe('/%77rite');
  });

  it('leaves only paths no InfluxDB serves open: they start with neither a lowercase letter, % nor .', () => {
    for (const path of ['', 'Write', '0', '-x']) {
      const d = proxyDecision(ROUTES, open, request(path));
      expect('upstream' in d, path).toBe(true);
    }
  });

  it('needs one-letter routes: Grafana before #116273 never matches a route with an empty path', () => {
    const catchAll: PluginRoute[] = [{ path: '', reqRole: 'Admin' }];
    expect('denied' in proxyDecision(catchAll, open, request('write'), { cleanDotFix: true })).toBe(true);
    expect('upstream' in proxyDecision(catchAll, open, request('write'), { cleanDotFix: false })).toBe(true);
    for (const cleanDotFix of [true, false]) expect('denied' in proxyDecision(ROUTES, open, request('write'), { cleanDotFix })).toBe(true);
  });

  it('matches the query routes right after their `..` guards, and no query route is a prefix of another', () => {
    const names = Object.values(QUERY_ROUTES);
    const adminOnly = (r: PluginRoute) => r.reqRole === 'Admin' && !r.url && !r.headers && !r.urlParams;
    expect(ROUTES.slice(0, 3).map((r) => r.path)).toEqual(names.map((n) => `${n}.`));
    expect(ROUTES.slice(3, 6).map((r) => r.path)).toEqual(names);
    for (const a of names) for (const b of names) if (a !== b) expect(b.startsWith(a)).toBe(false);
    expect([...ROUTES.slice(0, 3), ...ROUTES.slice(6)].every(adminOnly)).toBe(true);
  });
});
