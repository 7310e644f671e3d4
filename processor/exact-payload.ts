/**
 * Exact mode: the raw MQTT payload arrives as a string field (`data_format = "value"`), so the Total
 * text is read verbatim instead of rebuilt from a float. A small strict JSON reader that remembers
 * where each value's text starts and ends; bounded depth, and duplicate keys are an error because
 * two parsers could pick different values.
 */
import { signedTime } from '../core/firmware';

export interface JsonSpan { readonly start: number; readonly end: number }
export type JsonValue =
  | (JsonSpan & { readonly kind: 'string'; readonly value: string })
  | (JsonSpan & { readonly kind: 'number'; readonly value: number })
  | (JsonSpan & { readonly kind: 'literal'; readonly value: boolean | null })
  | (JsonSpan & { readonly kind: 'array'; readonly items: readonly JsonValue[] })
  | (JsonSpan & { readonly kind: 'object'; readonly entries: ReadonlyMap<string, JsonValue> });

export const MAX_JSON_DEPTH = 32;

export class JsonError extends Error {}

/** A reading's parts in a payload: what the processor judges live and the audit judges later, alike. */
export interface PayloadNames {
  readonly signature: string;
  readonly time: string;
  /** json v1's flattened name (`ENERGY_Total`). */
  readonly total: string;
}

export const MAX_PHASES = 16;

export type PayloadReading =
  | { readonly status: 'unsigned' }
  | { readonly status: 'malformed'; readonly reason: string; readonly signatureText?: string }
  | {
      readonly status: 'reading';
      /** 128 hex digits. */
      readonly signatureText: string;
      readonly time19: string;
      readonly totals: readonly number[];
      readonly asArray: boolean;
      /** Total exactly as printed in the payload. */
      readonly totalText: string;
    };

const HEX128 = /^[0-9a-fA-F]{128}$/;

/**
 * The signed parts of a parsed Tasmota payload (exact mode). `flat` is the payload flattened as json v1
 * would: a signed name that occurs twice there is malformed, since which one gets stored is not ours
 * to pick (`{"ENERGY":{"Total":1.5},"ENERGY_Total":99}`).
 */
export function readSignedPayload(text: string, root: JsonValue, flat: readonly FlatField[], names: PayloadNames): PayloadReading {
  if (root.kind !== 'object') return { status: 'unsigned' };
  const sigValue = root.entries.get(names.signature);
  if (!sigValue) return { status: 'unsigned' };
  const signatureText = sigValue.kind === 'string' ? sigValue.value : undefined;
  const malformed = (reason: string): PayloadReading => ({ status: 'malformed', reason: `payload ${reason}`, ...(signatureText !== undefined && { signatureText }) });
  const signed = (k: string) =>
    k === names.signature || k === names.time || k === names.total || (k.startsWith(`${names.total}_`) && /^\d+$/.test(k.slice(names.total.length + 1)));
  const seen = new Set<string>();
  for (const [k] of flat) {
    if (seen.has(k) && signed(k)) return malformed(`has two fields named ${k} after flattening`);
    seen.add(k);
  }
  if (signatureText === undefined || !HEX128.test(signatureText)) return malformed(`${names.signature} is not 128 hex digits`);
  const timeValue = root.entries.get(names.time);
  if (timeValue?.kind !== 'string') return malformed(`${names.time} is missing`);
  const time19 = signedTime(timeValue.value);
  if (!time19) return malformed(`${names.time} "${timeValue.value.slice(0, 40)}" is not a date and time`);
  const totalValue = findFlattened(root, names.total);
  if (!totalValue) return malformed(`has no ${names.total}`);
  const items = totalValue.kind === 'array' ? totalValue.items : [totalValue];
  const totals = items.flatMap((v) => (v.kind === 'number' && Number.isFinite(v.value) ? [v.value] : []));
  if (totals.length === 0 || totals.length !== items.length || totals.length > MAX_PHASES) {
    return malformed(`${names.total} is not a finite number or array of numbers`);
  }
  const totalText = text.slice(totalValue.start, totalValue.end);
  // The firmware prints no white space inside Total; a reading that has some was not printed by it.
  if (/\s/.test(totalText)) return malformed(`${names.total} contains white space`);
  return { status: 'reading', signatureText, time19, totals, asArray: totalValue.kind === 'array', totalText };
}

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
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
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

/**
 * Telegraf json v1's view of a payload: nested keys joined with `_`, arrays as `_0.._n`. Numbers that
 * are not finite (1e400) are left out, as Telegraf's serializer discards them: line protocol has none.
 */
export type FlatField = readonly [key: string, value: number | string | boolean];

export function flattenJson(root: JsonValue, keepStrings: ReadonlySet<string>): FlatField[] {
  const out: FlatField[] = [];
  const walk = (prefix: string, v: JsonValue) => {
    const join = (k: string) => (prefix ? `${prefix}_${k}` : k);
    if (v.kind === 'object') for (const [k, item] of v.entries) walk(join(k), item);
    else if (v.kind === 'array') v.items.forEach((item, i) => walk(join(String(i)), item));
    else if ((v.kind === 'number' && Number.isFinite(v.value)) || (v.kind === 'literal' && v.value !== null)) out.push([prefix, v.value as number | boolean]);
    else if (v.kind === 'string' && keepStrings.has(prefix)) out.push([prefix, v.value]);
  };
  walk('', root);
  return out;
}

/** The value json v1 would name `name` after flattening (`ENERGY_Total` → ENERGY.Total). */
export function findFlattened(v: JsonValue, name: string, prefix = ''): JsonValue | undefined {
  if (prefix === name) return v;
  if (v.kind !== 'object' || (prefix && !name.startsWith(`${prefix}_`))) return undefined;
  for (const [k, item] of v.entries) {
    const found = findFlattened(item, name, prefix ? `${prefix}_${k}` : k);
    if (found) return found;
  }
  return undefined;
}
