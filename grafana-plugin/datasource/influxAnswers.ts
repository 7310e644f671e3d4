/**
 * What InfluxDB's `/query` answers, and what a failed request means to a person. No Grafana imports:
 * the statements' readers (trust.ts, frames.ts), the bench and the tests use it in Node too.
 */

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
