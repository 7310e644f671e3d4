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
import { classifyFailure, InfluxRequestError, PartialAnswerError, type InfluxResult } from './influxAnswers';

interface InfluxBody {
  results?: InfluxResult[];
  error?: string;
  message?: string;
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
