/**
 * InfluxQL over `/query`, through Grafana's data source proxy. The proxy route in plugin.json adds the
 * credentials from secureJsonData on the server, so the browser never holds them.
 */
import { getBackendSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';

export interface InfluxSeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}
export interface InfluxResult {
  statement_id?: number;
  series?: InfluxSeries[];
  error?: string;
}
interface InfluxBody {
  results?: InfluxResult[];
  error?: string;
  message?: string;
}

/** Why a request failed, in the terms the health check reports. */
export type FailureKind = 'unreachable' | 'auth' | 'database' | 'query';

export class InfluxRequestError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

const NOT_EXECUTED = 'not executed';
const AUTH_TEXT = /authori[sz]|authenticat|credential|unauthori[sz]ed|token/i;

/**
 * Grafana's proxy turns an upstream 401 into a 400 "Authentication to data source failed" (so that the
 * user is not logged out), and answers 502 when it cannot connect; InfluxDB itself says
 * "authorization failed" (401), "… not authorized …" (403) or "database not found: x".
 */
export function classifyFailure(status: number | undefined, text: string): InfluxRequestError {
  const detail = text.trim() || (status ? `HTTP ${status}` : 'no response');
  if (status === undefined || status <= 0 || status === 502 || status === 503 || status === 504) {
    return new InfluxRequestError(
      'unreachable',
      `InfluxDB is unreachable through Grafana's proxy (${detail}): check the URL and that InfluxDB is running`,
    );
  }
  if (status === 401 || status === 403 || AUTH_TEXT.test(text)) {
    return new InfluxRequestError('auth', `InfluxDB refused the credentials (${detail}): check the user and password, or the token`);
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

function bodyText(data: unknown): string {
  if (typeof data === 'string') return data;
  const body = data as InfluxBody | undefined;
  return body?.error ?? body?.message ?? '';
}

export class InfluxClient {
  constructor(
    /** The data source's proxy URL (`instanceSettings.url`). */
    private readonly proxyUrl: string,
    private readonly database: string,
  ) {}

  /** Runs the statements in one request; any statement error fails the whole call. */
  async run(statements: readonly string[], requestId?: string): Promise<InfluxResult[]> {
    let body: InfluxBody;
    try {
      const response = await lastValueFrom(
        getBackendSrv().fetch<InfluxBody>({
          url: `${this.proxyUrl}/query`,
          method: 'POST',
          params: { db: this.database, epoch: 'ms' },
          // POST keeps long device lists out of the URL (proxies cap URL length).
          data: new URLSearchParams({ q: statements.join('; ') }).toString(),
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          showErrorAlert: false,
          showSuccessAlert: false,
          ...(requestId && { requestId }),
        }),
      );
      body = response.data ?? {};
    } catch (e) {
      const err = e as { status?: number; data?: unknown; message?: string };
      throw classifyFailure(err.status, bodyText(err.data) || err.message || '');
    }
    if (body.error) throw classifyFailure(200, body.error);
    const results = body.results ?? [];
    const failed = results.find((r) => r.error);
    if (failed?.error === NOT_EXECUTED && statements.length > 1) {
      // InfluxDB 1.x answers only "not executed" when the first of several statements fails (a missing
      // database, say); the first statement alone tells why.
      await this.run(statements.slice(0, 1), requestId);
    }
    if (failed?.error) throw classifyFailure(200, failed.error);
    return results;
  }
}
