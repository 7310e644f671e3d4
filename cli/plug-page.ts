/**
 * Reads a plug's Information page (`GET http://<plug>/in`, docs/design.md §10): the firmware sends its
 * table as one JavaScript string, rows separated by `}1` and cells by `}2`; the BC4P fork adds a
 * `Public Key` row. What the page says is only as trustworthy as the network path to the plug.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface PlugPage {
  /** Every row of the table, in page order: [heading, value], HTML entities decoded. */
  readonly rows: readonly (readonly [string, string])[];
  /** The `Public Key` row, lowercase; undefined when the page has none (unsigned firmware). */
  readonly publicKey?: string;
  /** The `MQTT Topic` row: the device name meterproof uses. */
  readonly topic?: string;
  /** The `Program Version` row. */
  readonly version?: string;
}

/**
 * Why a page could not be read. `unreachable`: no connection or no answer in time; `refused`: the
 * connection closed without an answer (the firmware's Referer check does that); `auth`: HTTP 401;
 * `http`: another status; `page`: an answer that is not an Information page.
 */
export class PlugPageError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'refused' | 'auth' | 'http' | 'page',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The Information page URL of a plug given as `http://host[:port][/…]` or a bare host or IP. The
 * firmware serves it at `/in` whatever path was given.
 */
export function informationUrl(plug: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(plug) ? plug : `http://${plug}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`"${plug}" is not a plug address (give http://<plug-ip> or the IP alone)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`"${plug}" is not an http:// address`);
  if (!url.hostname) throw new RangeError(`"${plug}" has no host`);
  return new URL('/in', url.origin);
}

export interface ReadOptions {
  /** The plug's WebPassword, sent with HTTP Basic auth as user `admin`. */
  readonly password?: string;
  readonly timeoutMs?: number;
}

const MAX_PAGE_BYTES = 4 << 20;

/** Fetches and parses a plug's Information page. Throws PlugPageError, with a sentence for people. */
export async function readPlugPage(url: URL, o: ReadOptions = {}): Promise<PlugPage> {
  const res = await get(url, o);
  if (res.status === 401) {
    throw new PlugPageError(
      'auth',
      o.password === undefined
        ? `${url.href} asks for the plug's web password: give --web-password or set $TASMOTA_WEB_PASSWORD`
        : `${url.href} refused the web password (user admin)`,
    );
  }
  if (res.status !== 200) throw new PlugPageError('http', `${url.href} answered HTTP ${res.status}`);
  try {
    return parseInformationPage(res.body);
  } catch (e) {
    if (e instanceof PlugPageError) throw new PlugPageError(e.kind, `${url.href}: ${e.message}`);
    throw e;
  }
}

function get(url: URL, o: ReadOptions): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = {
    // The firmware's Referer check (SetOption128 0) wants http://<its hostname or IP> right at the start,
    // and refuses a request without one; a browser on the page would send this.
    Referer: `http://${url.host}/`,
    Connection: 'close',
  };
  if (o.password !== undefined) headers.Authorization = `Basic ${Buffer.from(`admin:${o.password}`).toString('base64')}`;
  const timeoutMs = o.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { headers, timeout: timeoutMs }, (res: IncomingMessage) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_PAGE_BYTES) {
          req.destroy();
          reject(new PlugPageError('page', `${url.href} sent more than ${MAX_PAGE_BYTES >> 20} MiB: not an Information page`));
        } else chunks.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => reject(new PlugPageError('unreachable', `${url.href}: ${e.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (!answered && (e.code === 'ECONNRESET' || e.message === 'socket hang up')) {
        reject(
          new PlugPageError(
            'refused',
            `${url.href} closed the connection without an answer: a plug with its Referer check on (SetOption128 0) ` +
              `does this when the address is not its own IP or hostname, so give the plug's IP or hostname`,
          ),
        );
      } else reject(new PlugPageError('unreachable', `cannot read ${url.href}: ${e.message}`));
    });
    req.end();
  });
}

/** Parses the page's `o="<table…>…}1…}2…"` string into rows. Throws PlugPageError('page') when there is none. */
export function parseInformationPage(html: string): PlugPage {
  const start = /var s,o="/.exec(html);
  const literal = start ? jsString(html, start.index + start[0].length) : undefined;
  if (!literal || !html.startsWith(';s=o.replace(/}1/g', literal.end)) {
    throw new PlugPageError(
      'page',
      'this is not a Tasmota Information page (a web server in user mode, WebServer 1, shows the main page instead: use WebServer 2)',
    );
  }
  const table = literal.text.replace(/^<table[^>]*><tr><th>/, '').replace(/<\/td><\/tr><\/table>$/, '');
  const rows = table.split('}1').map((row): [string, string] => {
    const at = row.indexOf('}2');
    return at < 0 ? [cellText(row), ''] : [cellText(row.slice(0, at)), cellText(row.slice(at + 2))];
  });
  const value = (name: string) => rows.find(([h]) => h === name)?.[1];
  const key = value('Public Key');
  if (key !== undefined && !/^[0-9a-fA-F]{64}$/.test(key)) {
    throw new PlugPageError('page', `the page's Public Key row is not 64 hex digits: "${key.slice(0, 80)}"`);
  }
  const topic = value('MQTT Topic');
  const version = value('Program Version');
  return {
    rows,
    ...(key !== undefined && { publicKey: key.toLowerCase() }),
    ...(topic && { topic }),
    ...(version && { version }),
  };
}

/** The JavaScript string literal whose body starts at `at`, up to its closing quote. */
function jsString(src: string, at: number): { text: string; end: number } | undefined {
  let text = '';
  for (let i = at; i < src.length; i++) {
    const c = src[i]!;
    if (c === '"') return { text, end: i + 1 };
    if (c === '\n') return undefined;
    if (c !== '\\') {
      text += c;
      continue;
    }
    const n = src[++i];
    if (n === undefined) return undefined;
    if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(i + 1, i + 5))) {
      text += String.fromCharCode(parseInt(src.slice(i + 1, i + 5), 16));
      i += 4;
    } else if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(src.slice(i + 1, i + 3))) {
      text += String.fromCharCode(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else text += ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[n] ?? n;
  }
  return undefined;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** A cell as text: tags dropped, entities decoded, outer space trimmed. */
function cellText(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return code <= 0x10ffff ? String.fromCodePoint(code) : m;
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    })
    .trim();
}
