/**
 * Telegraf json v1's view of a payload (plugins/parsers/json/parser.go): nested keys joined with `_`, arrays as `_0.._n`,
 * numbers as floats, strings and booleans only when json_string_fields lists them, null never. Numbers that
 * are not finite (1e400) are left out, as Telegraf's serializer discards them: line protocol has none.
 */
import type { JsonValue } from './json-spans';

export type FlatField = readonly [key: string, value: number | string | boolean];

export function flattenJson(root: JsonValue, keepStrings: ReadonlySet<string>): FlatField[] {
  const out: FlatField[] = [];
  const walk = (prefix: string, v: JsonValue) => {
    const join = (k: string) => (prefix ? `${prefix}_${k}` : k);
    if (v.kind === 'object') for (const [k, item] of v.entries) walk(join(k), item);
    else if (v.kind === 'array') v.items.forEach((item, i) => walk(join(String(i)), item));
    else if (v.kind === 'number' && Number.isFinite(v.value)) out.push([prefix, v.value]);
    // json v1 keeps strings and booleans only under json_string_fields (parser.go, switchFieldToTag).
    else if ((v.kind === 'string' || (v.kind === 'literal' && v.value !== null)) && keepStrings.has(prefix))
      out.push([prefix, v.value as string | boolean]);
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
