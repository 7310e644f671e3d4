/**
 * Grafana's data source proxy (`/api/datasources/proxy/uid/<uid>/<path>`) for a frontend data source,
 * reproduced from Grafana's Go source as read (grafana/grafana main, Grafana 11.x–13.x):
 * - pkg/api/pluginproxy/ds_proxy.go: `validateRequest` (routes matched in order by method, then by
 *   prefix of the cleaned paths; `reqRole` checked with the org role's `Includes`; a denied route answers
 *   403 through `writeJSONErr`), `director` (scheme and host from the data source URL, path =
 *   `util.JoinURLFragments(targetURL.Path, proxyPath)` then path-unescaped, query string kept, Grafana's
 *   basic auth set as `Authorization`, `X-DS-Authorization` moved to `Authorization`, then `ApplyRoute`
 *   for a matched route) and `HandleRequest`'s `modifyResponse` (an upstream 401 becomes a 400 with the
 *   body "Authentication to data source failed" and no headers); a failed upstream connection is a 502
 *   with an empty body (pkg/util/proxyutil reverse proxy error handler).
 * - pkg/api/pluginproxy/ds_auth_provider.go `ApplyRoute`: `proxyPath = strings.TrimPrefix(proxyPath,
 *   route.Path)` (the raw path, not the cleaned one); with a route `url`, its interpolation is parsed and
 *   sets scheme, host and `Path = JoinURLFragments(routeURL.Path, proxyPath)`, and a failed interpolation
 *   returns before anything else is applied; then `addQueryString`, `addHeaders`.
 * - pkg/api/pluginproxy/utils.go: `interpolateString` (text/template, see go-template.ts), `addQueryString`
 *   (`q.Add(name, content)` for every urlParam, even when it renders empty; then `RawQuery = q.Encode()`,
 *   which sorts by key) and `addHeaders` (`Header.Set`, so a route header replaces basic auth).
 * - pkg/plugins `CleanRelativePath` (`filepath.Rel("/", filepath.Clean(filepath.Join("/", p)))`) with the
 *   fix of grafana/grafana#116273 (an empty route path matches every path); `cleanDotFix: false` gives the
 *   behaviour before it, where a route with an empty path never matches.
 * Token providers (`tokenAuth`, `jwtTokenAuth`), route bodies and `reqAction` are not reproduced: a route
 * using them throws.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { executeGoTemplate, type TemplateData } from './go-template';
import { freePort } from './ports';

export type OrgRole = 'Viewer' | 'Editor' | 'Admin';

export interface PluginRoute {
  path: string;
  method?: string;
  reqRole?: OrgRole;
  url?: string;
  urlParams?: Array<{ name: string; content: string }>;
  headers?: Array<{ name: string; content: string }>;
  [unsupported: string]: unknown;
}

/** A data source as Grafana stores it (secureJsonData decrypted). */
export interface ProxiedDataSource {
  url: string;
  jsonData: Record<string, unknown>;
  secureJsonData: Record<string, string>;
  /** Grafana's own basic auth (`basicAuth: true`), applied by the director before the route. */
  basicAuth?: { user: string; password: string };
}

export interface IncomingProxyRequest {
  method: string;
  /** The escaped path after `/api/datasources/proxy/uid/<uid>/` (Grafana's proxyPath). */
  proxyPath: string;
  /** The raw query string, without `?`. */
  rawQuery: string;
  headers: Record<string, string>;
  role: OrgRole;
}

export type ProxyDecision =
  | { denied: { status: number; body: string; headers: Record<string, string> } }
  | { upstream: { method: string; url: string; headers: Record<string, string> }; route?: PluginRoute };

// ---- Go helpers -------------------------------------------------------------------------------

/** path.Clean for slash-separated paths (Go's path and filepath on Unix). */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** pkg/plugins CleanRelativePath: Rel("/", Clean(Join("/", p))); "/" itself becomes ".". */
export function cleanRelativePath(p: string): string {
  const clean = goClean(`/${p}`);
  return clean === '/' ? '.' : clean.slice(1);
}

/** pkg/util JoinURLFragments. */
export function joinURLFragments(a: string, b: string): string {
  const aslash = a.endsWith('/');
  const bslash = b.startsWith('/');
  if (b.length === 0) return a;
  if (aslash && bslash) return a + b.slice(1);
  if (!aslash && !bslash) return `${a}/${b}`;
  return a + b;
}

const UNRESERVED = /[A-Za-z0-9\-_.~]/;

/** net/url shouldEscape for encodePath: unreserved and $&+,/:;=@ stay. */
function escapePath(p: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(p)) {
    const c = String.fromCharCode(byte);
    out += UNRESERVED.test(c) || '$&+,/:;=@'.includes(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** net/url PathUnescape; throws on a bad escape as Go returns an error. */
function pathUnescape(s: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) throw new Error(`invalid URL escape in ${s}`);
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...new TextEncoder().encode(s[i]!));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** URL.EscapedPath: RawPath when it is validEncoded and unescapes to Path, else Path escaped. */
function escapedPath(path: string, rawPath: string): string {
  if (rawPath !== '' && !/[^A-Za-z0-9\-_.~$&+,/:;=@%!'()*[\]]/.test(rawPath)) {
    try {
      if (pathUnescape(rawPath) === path) return rawPath;
    } catch {
      // not a valid encoding: fall through
    }
  }
  return path === '*' ? '*' : escapePath(path);
}

interface GoURL {
  scheme: string;
  host: string;
  /** Unescaped, as url.URL.Path. */
  path: string;
}

/** The parts of url.Parse used here, for absolute URLs. */
function goParseURL(s: string): GoURL {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/.exec(s);
  if (!m) throw new Error(`not an absolute URL: ${s}`);
  return { scheme: m[1]!.toLowerCase(), host: m[2]!, path: pathUnescape(m[3]!) };
}

/** url.QueryEscape. */
const queryEscape = (s: string): string =>
  [...new TextEncoder().encode(s)]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (UNRESERVED.test(c)) return c;
      if (c === ' ') return '+';
      return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');

/** url.ParseQuery (errors ignored, as URL.Query() does), keeping key order of first appearance. */
function parseQuery(raw: string): Map<string, string[]> {
  const q = new Map<string, string[]>();
  for (const part of raw.split('&')) {
    if (part === '' || part.includes(';')) continue;
    const eq = part.indexOf('=');
    const [k, v] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    try {
      const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      const key = dec(k);
      q.set(key, [...(q.get(key) ?? []), dec(v)]);
    } catch {
      continue;
    }
  }
  return q;
}

/** url.Values.Encode: keys sorted (byte order), each value QueryEscaped. */
function encodeQuery(q: Map<string, string[]>): string {
  return [...q.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap((k) => q.get(k)!.map((v) => `${queryEscape(k)}=${queryEscape(v)}`))
    .join('&');
}

/** Grafana's org role Includes. */
function includes(role: OrgRole, required: OrgRole): boolean {
  if (role === 'Admin') return true;
  if (role === 'Editor') return required !== 'Admin';
  return required === 'Viewer';
}

const SUPPORTED_KEYS = new Set(['path', 'method', 'reqRole', 'url', 'urlParams', 'headers']);

// ---- the proxy --------------------------------------------------------------------------------

export interface ProxyOptions {
  /** grafana/grafana#116273 (an empty route path matches): true in current Grafana, false before. */
  cleanDotFix?: boolean;
}

/** What Grafana does with one request through the data source proxy, before anything is sent. */
export function proxyDecision(
  routes: readonly PluginRoute[],
  ds: ProxiedDataSource,
  req: IncomingProxyRequest,
  opts: ProxyOptions = {},
): ProxyDecision {
  const fix = opts.cleanDotFix ?? true;
  // validateRequest
  let matched: PluginRoute | undefined;
  for (const route of routes) {
    for (const key of Object.keys(route)) if (!SUPPORTED_KEYS.has(key)) throw new Error(`route property "${key}" is not reproduced here`);
    if (route.method && route.method !== '*' && route.method !== req.method) continue;
    let r1 = cleanRelativePath(req.proxyPath);
    let r2 = cleanRelativePath(route.path);
    if (fix && r1 === '.' && req.proxyPath !== '.') r1 = '';
    if (fix && r2 === '.' && route.path !== '.') r2 = '';
    if (!r1.startsWith(r2)) continue;
    if (route.reqRole && !['Viewer', 'Editor', 'Admin'].includes(route.reqRole)) throw new Error(`reqRole ${route.reqRole} is not a role`);
    if (route.reqRole && !includes(req.role, route.reqRole)) {
      return {
        denied: {
          status: 403,
          body: `${JSON.stringify({ message: 'plugin proxy route access denied' })}\n`,
          headers: { 'Content-Type': 'application/json; charset=UTF-8' },
        },
      };
    }
    matched = route;
    break;
  }

  // director
  const target = goParseURL(/^[a-z][a-z0-9+.-]*:\/\//i.test(ds.url) ? ds.url : `http://${ds.url}`); // validation.ValidateURL
  let origin = `${target.scheme}://${target.host}`;
  const rawPath = joinURLFragments(target.path, req.proxyPath);
  let path = pathUnescape(rawPath);
  let rawQuery = req.rawQuery;
  const headers = new Map<string, string>(Object.entries(req.headers).map(([k, v]) => [canonical(k), v]));
  if (ds.basicAuth)
    headers.set('Authorization', `Basic ${Buffer.from(`${ds.basicAuth.user}:${ds.basicAuth.password}`).toString('base64')}`);
  const dsAuth = headers.get('X-Ds-Authorization');
  if (dsAuth) {
    headers.delete('X-Ds-Authorization');
    headers.set('Authorization', dsAuth);
  }
  headers.delete('Cookie');

  if (matched) {
    // ApplyRoute
    const proxyPath = req.proxyPath.startsWith(matched.path) ? req.proxyPath.slice(matched.path.length) : req.proxyPath;
    const data: TemplateData = { URL: ds.url, JsonData: ds.jsonData, SecureJsonData: ds.secureJsonData };
    const render = (t: string): string | Error => {
      try {
        return executeGoTemplate(t, data);
      } catch (e) {
        return e as Error;
      }
    };
    let applied = true;
    if (matched.url) {
      const interpolated = render(matched.url);
      let routeURL: GoURL | undefined;
      if (!(interpolated instanceof Error)) {
        try {
          routeURL = goParseURL(interpolated);
        } catch {
          routeURL = undefined;
        }
      }
      if (!routeURL)
        applied = false; // logged by Grafana; the request goes on as the director left it
      else {
        origin = `${routeURL.scheme}://${routeURL.host}`;
        // Only Path is set: RawPath keeps the director's value, and EscapedPath escapes Path when they differ.
        path = joinURLFragments(routeURL.path, proxyPath);
      }
    }
    if (applied) {
      const q = parseQuery(rawQuery);
      let ok = true;
      for (const p of matched.urlParams ?? []) {
        const name = render(p.name);
        const content = render(p.content);
        if (name instanceof Error || content instanceof Error) {
          ok = false;
          break;
        }
        q.set(name, [...(q.get(name) ?? []), content]);
      }
      if (ok) rawQuery = encodeQuery(q);
      for (const h of matched.headers ?? []) {
        const content = render(h.content);
        if (content instanceof Error) break;
        headers.set(canonical(h.name), content);
      }
    }
  }
  const url = `${origin}${escapedPath(path, rawPath)}${rawQuery ? `?${rawQuery}` : ''}`;
  return { upstream: { method: req.method, url, headers: Object.fromEntries(headers) }, ...(matched && { route: matched }) };
}

/** Go's textproto.CanonicalMIMEHeaderKey. */
function canonical(k: string): string {
  return k
    .toLowerCase()
    .split('-')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join('-');
}

export interface UpstreamLog {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface GrafanaProxy {
  /** Base URL of the fake Grafana; the data source's proxy URL is `${url}/api/datasources/proxy/uid/${uid}`. */
  readonly url: string;
  /** What reached the upstream, in order. */
  readonly upstream: UpstreamLog[];
  /** The signed-in user's org role for the next requests. */
  role: OrgRole;
  stop(): Promise<void>;
}

/**
 * Serves `/api/datasources/proxy/uid/<uid>/…` as Grafana does for one data source, forwarding to the
 * real upstream. `handle` may serve other paths (return true when it answered).
 */
export async function startGrafanaProxy(
  routes: readonly PluginRoute[],
  ds: ProxiedDataSource,
  opts: ProxyOptions & { uid?: string; role?: OrgRole; handle?: (req: IncomingMessage, res: ServerResponse) => boolean } = {},
): Promise<GrafanaProxy> {
  const upstream: UpstreamLog[] = [];
  const prefix = `/api/datasources/proxy/uid/${opts.uid ?? 'mp'}/`;
  const state = { role: opts.role ?? 'Viewer' };
  const server: Server = createServer((req, res) => {
    if (opts.handle?.(req, res)) return;
    const raw = req.url ?? '/';
    const [rawPathname, ...rest] = raw.split('?');
    if (!rawPathname!.startsWith(prefix) && `${rawPathname}/` !== prefix) {
      res.writeHead(404).end('not found');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void forward(Buffer.concat(chunks)));
    const forward = async (body: Buffer) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v;
      const decision = proxyDecision(
        routes,
        ds,
        { method: req.method ?? 'GET', proxyPath: rawPathname!.slice(prefix.length), rawQuery: rest.join('?'), headers, role: state.role },
        opts,
      );
      if ('denied' in decision) {
        res.writeHead(decision.denied.status, decision.denied.headers).end(decision.denied.body);
        return;
      }
      const { method, url, headers: out } = decision.upstream;
      upstream.push({ method, url, headers: out, body: body.toString() });
      let answer: Response;
      try {
        answer = await fetch(url, { method, headers: out, body: method === 'GET' || method === 'HEAD' ? undefined : new Uint8Array(body) });
      } catch {
        res.writeHead(502).end();
        return;
      }
      if (answer.status === 401) {
        // HandleRequest's modifyResponse: a new response, no headers, so no Content-Type.
        const msg = 'Authentication to data source failed';
        res.writeHead(400, 'Bad Request', { 'Content-Length': String(msg.length) }).end(msg);
        return;
      }
      const pass: Record<string, string> = {};
      answer.headers.forEach((v, k) => {
        if (!['connection', 'transfer-encoding', 'content-encoding', 'content-length', 'keep-alive'].includes(k)) pass[k] = v;
      });
      res.writeHead(answer.status, answer.statusText, pass).end(Buffer.from(await answer.arrayBuffer()));
    };
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    upstream,
    get role() {
      return state.role;
    },
    set role(r: OrgRole) {
      state.role = r;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
