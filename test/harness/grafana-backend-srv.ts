/**
 * Grafana's BackendSrv.fetch as a data source plugin sees it (public/app/core/services/backend_srv.ts
 * and app/core/utils/fetch.ts, Grafana 11–13), over real HTTP:
 * - the URL is `options.url` plus the serialized `params`; a local URL loses its leading `/` and is
 *   resolved against Grafana's address;
 * - the body is parsed as JSON when the response says `application/json`, else JSON if it parses, else
 *   kept as text (parseResponseBody);
 * - a response that is not ok is thrown as a FetchError `{ status, statusText, data, config }`, then
 *   reshaped by processRequestError: no data → `{ message: 'Unexpected error' }`; text data →
 *   `{ message: text, error: statusText, response: text }`; an `error` string without `message` is
 *   copied to `message`;
 * - a failed connection is thrown the same way with no status;
 * - a request whose `requestId` another request reuses is cancelled: `{ cancelled: true, status: -1 }`.
 * host.js carries the same steps for the browser.
 */
import type { BackendSrv, BackendSrvRequest, FetchError, FetchResponse } from '@grafana/runtime';
import { Observable } from 'rxjs';

type Reshaped = FetchError<{ message: string; error?: string; response?: string }>;

/** processRequestError: makes `data` an object with a `message`. */
export function processRequestError(err: FetchError): Reshaped {
  err.data = err.data ?? { message: 'Unexpected error' };
  if (typeof err.data === 'string') err.data = { message: err.data, error: err.statusText, response: err.data };
  if (err.data && !err.data.message && typeof err.data.error === 'string') err.data.message = err.data.error;
  return err as Reshaped;
}

/** What a plugin receives when Grafana's server answered `status` with `body`. */
export function fetchErrorOf(status: number, statusText: string, body: string, contentType?: string): Reshaped {
  let data: unknown = body;
  if (contentType?.includes('application/json')) data = JSON.parse(body);
  else {
    try {
      data = JSON.parse(body);
    } catch {
      data = body;
    }
  }
  return processRequestError({ status, statusText, data, config: { url: '' } } as FetchError);
}

const serialize = (params: Record<string, unknown>) =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');

/** A BackendSrv whose `fetch` reaches `grafanaUrl` over HTTP as Grafana's does; other methods are absent. */
export function grafanaBackendSrv(grafanaUrl: string): BackendSrv {
  const inFlight = new Map<string, () => void>();
  const fetch = <T>(options: BackendSrvRequest): Observable<FetchResponse<T>> =>
    new Observable<FetchResponse<T>>((subscriber) => {
      const query = options.params ? serialize(options.params as Record<string, unknown>) : '';
      const path = options.url.startsWith('/') ? options.url.slice(1) : options.url;
      const url = `${grafanaUrl}/${path}${query ? `${path.includes('?') ? '&' : '?'}${query}` : ''}`;
      const controller = new AbortController();
      let done = false;
      if (options.requestId) {
        inFlight.get(options.requestId)?.();
        inFlight.set(options.requestId, () => {
          if (done) return;
          done = true;
          controller.abort();
          subscriber.error({ cancelled: true, data: null, status: -1, statusText: 'Request was aborted', config: options });
        });
      }
      globalThis
        .fetch(url, {
          method: options.method ?? 'GET',
          headers: options.headers as Record<string, string> | undefined,
          body: options.data === undefined ? undefined : typeof options.data === 'string' ? options.data : JSON.stringify(options.data),
          signal: controller.signal,
        })
        .then(async (res) => {
          const text = await res.text();
          let data: unknown;
          if (res.headers.get('content-type')?.includes('application/json')) data = text === '' ? {} : JSON.parse(text);
          else {
            try {
              data = JSON.parse(text);
            } catch {
              data = text;
            }
          }
          if (done) return;
          done = true;
          if (!res.ok) {
            subscriber.error(processRequestError({ status: res.status, statusText: res.statusText, data, config: options } as FetchError));
            return;
          }
          subscriber.next({
            data: data as T,
            status: res.status,
            statusText: res.statusText,
            ok: true,
            headers: res.headers,
            url,
            type: res.type,
            redirected: res.redirected,
            config: options,
          });
          subscriber.complete();
        })
        .catch((e: unknown) => {
          if (done) return;
          done = true;
          subscriber.error(
            processRequestError({ status: undefined, data: undefined, config: options, message: String(e) } as unknown as FetchError),
          );
        });
    });
  return { fetch } as unknown as BackendSrv;
}
