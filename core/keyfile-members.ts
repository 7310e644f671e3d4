/**
 * The streaming scanner over the key file's bytes: it yields the top-level members one at a time (device
 * name and the byte span of its value) and parses each span on its own. It exists because a registry of
 * 100,000 devices parsed whole would briefly cost several times its size.
 */
import { hexSpanInto } from './pubkey';

/** The whole file is unusable (not JSON, wrong shape): callers keep their last good keys. */
export class KeyFileError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const SP = 0x20,
  TAB = 0x09,
  LF = 0x0a,
  CR = 0x0d,
  QUOTE = 0x22,
  BSL = 0x5c,
  COMMA = 0x2c,
  COLON = 0x3a;
const OPEN_OBJECT = 0x7b,
  CLOSE_OBJECT = 0x7d,
  OPEN_ARRAY = 0x5b,
  CLOSE_ARRAY = 0x5d;

/** Whether src[start, end) is `"<64 hex digits>"`; if so its bytes are decoded into `out`. */
export function plainHexKey(src: Uint8Array, start: number, end: number, out: Uint8Array): boolean {
  return end - start === 66 && src[start] === QUOTE && src[end - 1] === QUOTE && hexSpanInto(src, start + 1, out);
}

/** The whole file is read once more, only to report why it is unreadable (with line and column). */
function unreadable(src: Uint8Array): never {
  let text: string;
  try {
    text = utf8.decode(src);
  } catch {
    throw new KeyFileError('not valid UTF-8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new KeyFileError(`not valid JSON${jsonErrorLocation(text, e)}: ${(e as Error).message}`);
  }
  throw new KeyFileError(
    typeof doc === 'object' && doc !== null && !Array.isArray(doc)
      ? 'unreadable JSON object'
      : 'must be a JSON object mapping device names to keys',
  );
}

/**
 * The top-level members of the file, one at a time, as device name and value span. A registry of
 * 100,000 devices parsed whole would briefly cost several times its size; this walks the bytes and
 * parses one member at a time. Anything it does not expect is handed to JSON.parse, whose error
 * (with position) is reported.
 */
export function* topLevelMembers(src: Uint8Array): Generator<[string, number, number]> {
  const ws = (i: number) => {
    while (i < src.length && (src[i] === SP || src[i] === TAB || src[i] === LF || src[i] === CR)) i++;
    return i;
  };
  let i = ws(0);
  if (src[i] !== OPEN_OBJECT) return unreadable(src);
  i = ws(i + 1);
  if (src[i] === CLOSE_OBJECT) return ws(i + 1) === src.length ? undefined : unreadable(src);
  for (;;) {
    if (src[i] !== QUOTE) return unreadable(src);
    const keyEnd = skipValue(src, i);
    const device = parseSpan(src, i, keyEnd);
    if (typeof device !== 'string') return unreadable(src);
    i = ws(keyEnd);
    if (src[i] !== COLON) return unreadable(src);
    const start = ws(i + 1);
    const end = skipValue(src, start);
    yield [device, start, end];
    i = ws(end);
    if (src[i] === CLOSE_OBJECT) return ws(i + 1) === src.length ? undefined : unreadable(src);
    if (src[i] !== COMMA) return unreadable(src);
    i = ws(i + 1);
  }
}

export function parseSpan(src: Uint8Array, start: number, end: number): unknown {
  try {
    return JSON.parse(utf8.decode(src.subarray(start, end)));
  } catch {
    return unreadable(src);
  }
}

/** End of the JSON value starting at `i`: strings and nesting are skipped, validity is JSON.parse's job. */
function skipValue(src: Uint8Array, i: number): number {
  let depth = 0;
  for (; i < src.length; i++) {
    const c = src[i];
    if (c === QUOTE) {
      for (i++; i < src.length && src[i] !== QUOTE; i++) if (src[i] === BSL) i++;
      if (depth === 0) return i + 1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++;
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === 0) return i;
      if (--depth === 0) return i + 1;
    } else if (depth === 0 && (c === COMMA || c === SP || c === LF || c === CR || c === TAB)) return i;
  }
  return i;
}

function jsonErrorLocation(text: string, e: unknown): string {
  const m = /position (\d+)/.exec((e as Error).message);
  if (!m) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}
