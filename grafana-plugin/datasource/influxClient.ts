/**
 * InfluxQL over `/query`, through Grafana's data source proxy. The proxy routes in plugin.json add the
 * credentials from secureJsonData on the server, so the browser never holds them; which route a request
 * takes follows the configured authentication (docs/grafana.md, "Proxy routes").
 *
 * Every request carries one statement: InfluxDB 3.0–3.6 refuse several statements in one request, and
 * the statements of one query run in parallel instead.
 */
import { getBackendSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';
import { QUERY_ROUTES, authTypeOf } from './routes';
import type { TrustOptions } from './types';

export interface InfluxSeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
  partial?: boolean;
}
export interface InfluxResult {
  statement_id?: number;
  series?: InfluxSeries[];
  error?: string;
  partial?: boolean;
}
interface InfluxBody {
  results?: InfluxResult[];
  error?: string;
  message?: string;
}

/** Why a request failed, in the terms the health check reports. */
export type FailureKind = 'unreachable' | 'auth' | 'denied' | 'route' | 'database' | 'query';

export class InfluxRequestError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * InfluxDB cut an answer short (`"partial": true`: a row limit such as `[http] max-row-limit`). A cut
 * answer read as whole could hide a device's latest rows, so it is never read as one.
 */
export class PartialAnswerError extends InfluxRequestError {
  constructor() {
    super('query', 'InfluxDB cut its answer short (a row limit such as [http] max-row-limit): raise the limit or narrow the time range');
  }
}

/** Grafana's proxy replaces InfluxDB's 401 with this 400 (pkg/api/pluginproxy/ds_proxy.go), so the viewer is not logged out. */
const PROXY_AUTH_FAILED = 'Authentication to data source failed';
const AUTH_TEXT = /authori[sz]|authenticat|credential|unauthori[sz]ed|token/i;

/**
 * Grafana's proxy turns an upstream 401 into a 400 "Authentication to data source failed", answers 502
 * when it cannot connect and 403 "plugin proxy route access denied" when a route needs a higher role;
 * InfluxDB itself says "authorization failed" (401), "… not authorized …" (403) or "database not found: x".
 */
export function classifyFailure(status: number | undefined, text: string): InfluxRequestError {
  const detail = text.trim() || (status ? `HTTP ${status}` : 'no response');
  if (status === undefined || status <= 0 || status === 502 || status === 503 || status === 504) {
    return new InfluxRequestError(
      'unreachable',
      `InfluxDB is unreachable through Grafana's proxy (${detail}): check the URL and that InfluxDB is running`,
    );
  }
  if (/plugin proxy route access denied/i.test(text)) {
    return new InfluxRequestError('denied', `Grafana's proxy refused this request for your role (${detail})`);
  }
  if (status === 401 || status === 403 || text.includes(PROXY_AUTH_FAILED) || AUTH_TEXT.test(text)) {
    return new InfluxRequestError('auth', `InfluxDB refused the credentials (${detail}): check the user and password, or the token`);
  }
  if (status === 404) {
    return new InfluxRequestError(
      'route',
      `InfluxDB answered 404 Not Found (${detail}): the URL must be InfluxDB's own, and Grafana must be 10.4 or later, whose proxy fills in the data source URL`,
    );
  }
  const missing = /database not found:?\s*(.*)/i.exec(text);
  if (missing) {
    return new InfluxRequestError(
      'database',
      `Database ${missing[1] ? `"${missing[1]}" ` : ''}does not exist on this InfluxDB: check the database name`,
    );
  }
  return new InfluxRequestError('query', `InfluxDB error: ${detail}`);
}

/**
 * The text of a failed request. Grafana's BackendSrv reshapes every error body (processRequestError): a
 * text body becomes `{ message: text, error: statusText }`, and a JSON body without `message` gets its
 * `error` copied there. So `message` first; `error` alone in bodies that did not pass through it.
 */
function errorText(data: unknown): string {
  if (typeof data === 'string') return data;
  const body = data as InfluxBody | undefined;
  return body?.message || body?.error || '';
}

export class InfluxClient {
  private readonly route: string;

  constructor(
    /** The data source's proxy URL (`instanceSettings.url`). */
    private readonly proxyUrl: string,
    private readonly database: string,
    /** jsonData: which proxy route carries the credentials. */
    auth: Pick<TrustOptions, 'authType' | 'user'>,
  ) {
    this.route = QUERY_ROUTES[authTypeOf(auth)];
  }

  /**
   * Runs each statement in its own request, all at once, and returns their results in order; any
   * failure fails the whole call. Each request gets its own id: Grafana cancels a running request
   * when another starts with the same id.
   */
  run(statements: readonly string[], requestId?: string): Promise<InfluxResult[]> {
    return Promise.all(statements.map((s, i) => this.one(s, requestId && statements.length > 1 ? `${requestId}-${i}` : requestId)));
  }

  private async one(statement: string, requestId?: string): Promise<InfluxResult> {
    let body: InfluxBody;
    try {
      const response = await lastValueFrom(
        getBackendSrv().fetch<InfluxBody>({
          url: `${this.proxyUrl}/${this.route}`,
          method: 'POST',
          params: { db: this.database, epoch: 'ms' },
          // POST keeps long device lists out of the URL (proxies cap URL length).
          data: new URLSearchParams({ q: statement }).toString(),
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          showErrorAlert: false,
          showSuccessAlert: false,
          ...(requestId && { requestId }),
        }),
      );
      body = response.data ?? {};
    } catch (e) {
      const err = e as { status?: number; data?: unknown; message?: string; cancelled?: boolean };
      if (err.cancelled) throw new InfluxRequestError('query', 'The query was cancelled');
      throw classifyFailure(err.status, errorText(err.data) || err.message || '');
    }
    if (typeof body !== 'object' || body === null) throw classifyFailure(200, `not an InfluxDB answer: ${String(body).slice(0, 80)}`);
    if (body.error) throw classifyFailure(200, body.error);
    const result = body.results?.[0] ?? {};
    if (result.error) throw classifyFailure(200, result.error);
    if (result.partial || result.series?.some((x) => x.partial)) throw new PartialAnswerError();
    return result;
  }
}
