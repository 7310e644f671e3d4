/**
 * A small strict JSON reader that remembers where each value's text starts and ends, so that exact
 * mode can read a Total exactly as the plug printed it. Bounded depth; a duplicate key is an error,
 * because two parsers could pick different values.
 */

export interface JsonSpan {
  readonly start: number;
  readonly end: number;
}
export type JsonValue =
  | (JsonSpan & { readonly kind: 'string'; readonly value: string })
  | (JsonSpan & { readonly kind: 'number'; readonly value: number })
  | (JsonSpan & { readonly kind: 'literal'; readonly value: boolean | null })
  | (JsonSpan & { readonly kind: 'array'; readonly items: readonly JsonValue[] })
  | (JsonSpan & { readonly kind: 'object'; readonly entries: ReadonlyMap<string, JsonValue> });

export const MAX_JSON_DEPTH = 32;

export class JsonError extends Error {}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING_BODY = /(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*/y;

export function parseJson(text: string): JsonValue {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const fail = (what: string): never => {
    throw new JsonError(`${what} at offset ${i}`);
  };
  const str = (): string => {
    const start = i++;
    STRING_BODY.lastIndex = i;
    STRING_BODY.exec(text);
    i = STRING_BODY.lastIndex;
    if (text[i] !== '"') fail('bad string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH}`);
    ws();
    const start = i;
    const c = text[i];
    if (c === '"') return { kind: 'string', value: str(), start, end: i };
    if (c === '{') {
      i++;
      const entries = new Map<string, JsonValue>();
      ws();
      if (text[i] === '}') return { kind: 'object', entries, start, end: ++i };
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = str();
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        if (entries.has(key)) fail(`duplicate key "${key}"`);
        entries.set(key, value(depth + 1));
        ws();
        const sep = text[i++];
        if (sep === '}') return { kind: 'object', entries, start, end: i };
        if (sep !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const items: JsonValue[] = [];
      ws();
      if (text[i] === ']') return { kind: 'array', items, start, end: ++i };
      for (;;) {
        items.push(value(depth + 1));
        ws();
        const sep = text[i++];
        if (sep === ']') return { kind: 'array', items, start, end: i };
        if (sep !== ',') fail('expected "," or "]"');
      }
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) return { kind: 'literal', value: v, start, end: (i += word.length) };
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail('unexpected character');
    i = NUMBER.lastIndex;
    return { kind: 'number', value: Number(text.slice(start, i)), start, end: i };
  };
  const root = value(0);
  ws();
  if (i !== text.length) fail('trailing text');
  return root;
}
