/**
 * Reads a measurement from InfluxDB's `/query` (1.x; 2.x and 3.x answer it too) in pages of
 * `chunk_size` rows. The server streams one JSON document per page, each ending in a newline, and
 * only one page is held at a time; reading waits while the caller works, so TCP back-pressure keeps
 * memory bounded however many rows the measurement has. A single streamed query, unlike
 * `WHERE time > last LIMIT n` paging, cannot skip or repeat rows that share a timestamp.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { quoteIdent } from '../core/influxql';
import { displayUrl } from './display-url';
import { fieldKeysStatement, tagKeysStatement, type AuditSelect } from './select';

export interface InfluxTarget {
  /** Base URL, e.g. http://127.0.0.1:8086 (a path prefix behind a proxy is kept). */
  readonly url: string;
  readonly db: string;
  readonly auth?: { readonly username: string; readonly password: string } | { readonly token: string };
}

/** One page of rows; the column list comes with every page. */
export interface Page {
  readonly columns: readonly string[];
  readonly values: readonly (readonly unknown[])[];
}

/** InfluxDB cannot be asked at all: unreachable, refused credentials, unknown database. Exit status 2. */
export class InfluxUnavailable extends Error {}

const PING_TIMEOUT_MS = 10_000;

export function endpoint(target: InfluxTarget, path: string): string {
  let base: URL;
  try {
    base = new URL(target.url);
  } catch {
    throw new InfluxUnavailable(`--url "${displayUrl(target.url)}" is not a URL`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new InfluxUnavailable(`--url must be http:// or https://, got "${displayUrl(target.url)}"`);
  return new URL(path, base.href.endsWith('/') ? base.href : `${base.href}/`).href;
}

function headers(target: InfluxTarget): Record<string, string> {
  const auth = target.auth;
  if (!auth) return {};
  if ('token' in auth) return { Authorization: `Token ${auth.token}` };
  return { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
}

interface Answer {
  readonly status: number;
  readonly body: AsyncIterable<Buffer>;
}

/** A form for /query, or line protocol for /write. */
type Body = URLSearchParams | string;

/**
 * node:http rather than fetch: a paused response stops reading the socket at once, where fetch's
 * body buffers tens of MiB ahead of a slow reader. No compression is asked for, so none is undone.
 */
function send(target: InfluxTarget, path: string, body: Body | undefined, timeoutMs?: number): Promise<Answer> {
  const url = new URL(endpoint(target, path));
  const payload = body?.toString();
  const contentType = body instanceof URLSearchParams ? 'application/x-www-form-urlencoded' : 'text/plain; charset=utf-8';
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: payload === undefined ? 'GET' : 'POST',
      headers: {
        ...headers(target),
        ...(payload !== undefined && { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) }),
      },
      ...(timeoutMs !== undefined && { signal: AbortSignal.timeout(timeoutMs) }),
    });
    req.once('response', (res) => resolve({ status: res.statusCode ?? 0, body: res }));
    req.once('error', (e: NodeJS.ErrnoException) => {
      const why =
        e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${(timeoutMs ?? 0) / 1000} s` : (e.code ?? e.message);
      reject(new InfluxUnavailable(`cannot reach InfluxDB at ${displayUrl(target.url)}: ${why}`));
    });
    req.end(payload);
  });
}

async function request(target: InfluxTarget, path: string, body?: Body, timeoutMs?: number): Promise<Answer> {
  const res = await send(target, path, body, timeoutMs);
  if (res.status === 401 || res.status === 403) {
    throw new InfluxUnavailable(`InfluxDB refused the credentials (HTTP ${res.status}): ${await errorText(res)}`);
  }
  if (res.status < 200 || res.status > 299) throw new InfluxUnavailable(`InfluxDB answered HTTP ${res.status}: ${await errorText(res)}`);
  return res;
}

async function readAll(body: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

async function errorText(res: Answer): Promise<string> {
  const text = (await readAll(res.body)).trim();
  try {
    return (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    return text.slice(0, 300);
  }
}

/** Fails fast on an unreachable host instead of waiting for a query that may never answer. */
export async function ping(target: InfluxTarget): Promise<void> {
  await readAll((await request(target, 'ping', undefined, PING_TIMEOUT_MS)).body);
}

interface QueryDocument {
  readonly results?: readonly { readonly error?: string; readonly series?: readonly Page[] }[];
  readonly error?: string;
}

function pagesOf(doc: QueryDocument): readonly Page[] {
  const failure = doc.error ?? doc.results?.find((r) => r.error)?.error;
  if (failure) throw new InfluxUnavailable(`InfluxDB: ${failure}`);
  return doc.results?.flatMap((r) => r.series ?? []) ?? [];
}

const form = (target: InfluxTarget, q: string, extra: Record<string, string> = {}) => new URLSearchParams({ q, db: target.db, ...extra });

/** Rows in the measurement, for a progress bar: the largest per-field count (every row has a field). */
export async function countRows(target: InfluxTarget, measurement: string): Promise<number> {
  const res = await request(target, 'query', form(target, `SELECT COUNT(*) FROM ${quoteIdent(measurement)}`));
  const counts = pagesOf(JSON.parse(await readAll(res.body)) as QueryDocument).flatMap((p) => p.values.flatMap((row) => row.slice(1)));
  return Math.max(0, ...counts.filter((n): n is number => typeof n === 'number'));
}

/** The measurement's field keys (once each: SHOW FIELD KEYS repeats a key whose type differs between shards). */
export async function fieldKeys(target: InfluxTarget, measurement: string): Promise<string[]> {
  return [...(await fieldTypes(target, measurement)).keys()];
}

/** Each field key with its types (`float`, `integer`, `string`, `boolean`): more than one when shards differ. */
export async function fieldTypes(target: InfluxTarget, measurement: string): Promise<Map<string, Set<string>>> {
  const res = await request(target, 'query', form(target, fieldKeysStatement(measurement)));
  const types = new Map<string, Set<string>>();
  for (const page of pagesOf(JSON.parse(await readAll(res.body)) as QueryDocument))
    for (const [key, type] of page.values) {
      if (typeof key !== 'string') continue;
      const known = types.get(key) ?? new Set<string>();
      if (typeof type === 'string') known.add(type);
      types.set(key, known);
    }
  return types;
}

/** The measurement's tag keys. */
export async function tagKeys(target: InfluxTarget, measurement: string): Promise<string[]> {
  const res = await request(target, 'query', form(target, tagKeysStatement(measurement)));
  const keys = pagesOf(JSON.parse(await readAll(res.body)) as QueryDocument).flatMap((p) => p.values.map((row) => row[0]));
  return [...new Set(keys.filter((k): k is string => typeof k === 'string'))];
}

/** Writes line protocol (timestamps in nanoseconds) into the database's default retention policy. */
export async function writeLines(target: InfluxTarget, lines: string): Promise<void> {
  const query = new URLSearchParams({ db: target.db, precision: 'ns' });
  await readAll((await request(target, `write?${query}`, lines)).body);
}

/** Runs statements that return no rows (`DELETE …; DELETE …`), failing on the first error any of them reports. */
export async function execute(target: InfluxTarget, statements: string): Promise<void> {
  const res = await request(target, 'query', form(target, statements));
  pagesOf(JSON.parse(await readAll(res.body)) as QueryDocument);
}

/** A statement and what its columns hold, `time` first (the statement aliases its columns by position). */
export interface Select {
  readonly statement: string;
  readonly columns: readonly string[];
}

/**
 * The rows `select` matches, one page at a time (`chunked=true`: one JSON document per page, one page held
 * at a time, the socket left unread while the caller works), with its columns named as it says. A caller
 * that stops early (a `break`, a `return`) closes the connection, and InfluxDB ends the query.
 */
export async function* queryPages(target: InfluxTarget, select: Select, pageSize: number): AsyncGenerator<Page> {
  const res = await request(target, 'query', form(target, select.statement, { chunked: 'true', chunk_size: String(pageSize) }));
  for await (const line of documents(res.body)) {
    for (const page of pagesOf(JSON.parse(line) as QueryDocument)) {
      if (page.columns.length !== select.columns.length || page.columns[0] !== 'time')
        throw new InfluxUnavailable(`InfluxDB answered with unexpected columns (${page.columns.slice(0, 8).join(', ')}, …)`);
      yield { columns: select.columns, values: page.values };
    }
  }
}

/** Every row of the measurement in time order (the audit's SELECT; times are RFC 3339 strings). */
export const readMeasurement = (target: InfluxTarget, select: AuditSelect, pageSize: number): AsyncGenerator<Page> =>
  queryPages(target, select, pageSize);

/** Every row of a small answer (SHOW FIELD KEYS, an aggregate), all series together. */
export async function queryRows(target: InfluxTarget, statement: string): Promise<(readonly unknown[])[]> {
  const res = await request(target, 'query', form(target, statement));
  return pagesOf(JSON.parse(await readAll(res.body)) as QueryDocument).flatMap((p) => p.values);
}

/** Splits the byte stream at newlines (never inside JSON: InfluxDB escapes them in strings). */
async function* documents(body: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  for await (const bytes of body) {
    let start = 0;
    for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
      pending.push(bytes.subarray(start, nl));
      const line = Buffer.concat(pending).toString('utf8');
      pending = [];
      start = nl + 1;
      if (line.trim()) yield line;
    }
    if (start < bytes.length) pending.push(bytes.subarray(start));
  }
  const rest = Buffer.concat(pending).toString('utf8');
  if (rest.trim()) yield rest;
}
