/**
 * The statement's queries against InfluxDB's `/query`, streamed the way the audit's pager streams
 * (audit/influx-pager.ts): `chunked=true`, one JSON document per page, one page held at a time, and
 * the socket left unread while the caller works, so memory stays bounded however many rows match.
 * Unlike the pager, which reads one whole measurement, these queries are the caller's own SELECTs,
 * and a caller that has found what it looked for stops reading: the connection is closed and InfluxDB
 * ends the query. URL checks, credentials and `InfluxUnavailable` are the pager's.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { endpoint, InfluxUnavailable, type InfluxTarget, type Page } from '../../audit/influx-pager';

/** A statement and what its columns hold, `time` first (the statement aliases its columns by position). */
export interface Select {
  readonly statement: string;
  readonly columns: readonly string[];
}

function authorization(target: InfluxTarget): Record<string, string> {
  const auth = target.auth;
  if (!auth) return {};
  if ('token' in auth) return { Authorization: `Token ${auth.token}` };
  return { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
}

function post(target: InfluxTarget, form: URLSearchParams): Promise<IncomingMessage> {
  const url = new URL(endpoint(target, 'query'));
  const payload = form.toString();
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: {
        ...authorization(target),
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(payload),
      },
    });
    req.once('response', resolve);
    req.once('error', (e: NodeJS.ErrnoException) =>
      reject(new InfluxUnavailable(`cannot reach InfluxDB at ${hostOf(target)}: ${e.code ?? e.message}`)),
    );
    req.end(payload);
  });
}

/** The URL's host only: never the user info a `--url` may carry. */
function hostOf(target: InfluxTarget): string {
  try {
    const u = new URL(target.url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(the --url given)';
  }
}

async function text(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

async function answer(target: InfluxTarget, form: URLSearchParams): Promise<IncomingMessage> {
  const res = await post(target, form);
  const status = res.statusCode ?? 0;
  if (status >= 200 && status <= 299) return res;
  const body = (await text(res)).trim();
  let why = body.slice(0, 300);
  try {
    why = (JSON.parse(body) as { error?: string }).error ?? why;
  } catch {
    /* not JSON: the text itself */
  }
  if (status === 401 || status === 403) throw new InfluxUnavailable(`InfluxDB refused the credentials (HTTP ${status}): ${why}`);
  throw new InfluxUnavailable(`InfluxDB answered HTTP ${status}: ${why}`);
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

/**
 * The rows `select` matches, one page at a time, with its columns named as it says. Stopping early
 * (a `break`, a `return`) closes the connection.
 */
export async function* queryPages(target: InfluxTarget, select: Select, pageSize: number): AsyncGenerator<Page> {
  const res = await answer(
    target,
    new URLSearchParams({ q: select.statement, db: target.db, chunked: 'true', chunk_size: String(pageSize) }),
  );
  try {
    for await (const line of documents(res)) {
      for (const page of pagesOf(JSON.parse(line) as QueryDocument)) {
        if (page.columns.length !== select.columns.length || page.columns[0] !== 'time')
          throw new InfluxUnavailable(`InfluxDB answered with unexpected columns (${page.columns.slice(0, 8).join(', ')})`);
        yield { columns: select.columns, values: page.values };
      }
    }
  } finally {
    res.destroy();
  }
}

/** Every row of a small answer (SHOW FIELD KEYS, an aggregate), all series together. */
export async function queryRows(target: InfluxTarget, statement: string): Promise<(readonly unknown[])[]> {
  const res = await answer(target, new URLSearchParams({ q: statement, db: target.db }));
  return pagesOf(JSON.parse(await text(res)) as QueryDocument).flatMap((p) => p.values);
}
