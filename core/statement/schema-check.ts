/**
 * A small JSON Schema validator for the subset statement.schema.json uses: `type` (one or several, with
 * `integer` and `null`), `const`, `enum`, `pattern`, `minimum`, `minLength`, `minItems`, `maxItems`,
 * `items`, `properties`, `required`, `additionalProperties: false` and local `$ref`s to `#/$defs/…`.
 * Any other keyword makes it throw rather than pass silently, so the schema cannot grow past what is
 * checked. Browser-safe; no dependency.
 */

export type JsonSchema = { readonly [keyword: string]: unknown };

const KNOWN = new Set([
  '$schema',
  '$id',
  '$defs',
  'title',
  'description',
  'type',
  'const',
  'enum',
  'pattern',
  'minimum',
  'minLength',
  'minItems',
  'maxItems',
  'items',
  'properties',
  'required',
  'additionalProperties',
  '$ref',
]);

const typeOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v;

const hasType = (v: unknown, type: string): boolean => {
  const t = typeOf(v);
  return t === type || (type === 'number' && t === 'integer');
};

/** Where `value` breaks `schema`, as `path: reason` lines; empty when it conforms. */
export function schemaProblems(value: unknown, schema: JsonSchema, root: JsonSchema = schema, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`schema keyword "${k}" at ${path} is not supported`);
  if (typeof schema.$ref === 'string') {
    const m = /^#\/\$defs\/([^/]+)$/.exec(schema.$ref);
    const target = m ? (root.$defs as Record<string, JsonSchema> | undefined)?.[m[1]!] : undefined;
    if (!target) throw new Error(`schema $ref "${schema.$ref}" at ${path} does not resolve`);
    return schemaProblems(value, target, root, path);
  }
  const problems: string[] = [];
  const fail = (why: string) => problems.push(`${path}: ${why}`);
  if (schema.type !== undefined) {
    const types = ([] as unknown[]).concat(schema.type) as string[];
    if (!types.some((t) => hasType(value, t))) {
      fail(`must be ${types.join(' or ')}, not ${typeOf(value)}`);
      return problems;
    }
  }
  if ('const' in schema && value !== schema.const) fail(`must be ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    fail(`must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
      fail(`"${value}" does not match ${schema.pattern}`);
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength)
      fail(`must have at least ${schema.minLength} characters`);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail('must be a finite number');
    if (typeof schema.minimum === 'number' && value < schema.minimum) fail(`must be at least ${schema.minimum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) fail(`must have at least ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) fail(`must have at most ${schema.maxItems} items`);
    if (schema.items) value.forEach((item, i) => problems.push(...schemaProblems(item, schema.items as JsonSchema, root, `${path}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    const o = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const name of (schema.required ?? []) as string[]) if (!(name in o)) fail(`"${name}" is required`);
    for (const [name, v] of Object.entries(o)) {
      const p = Object.hasOwn(properties, name) ? properties[name] : undefined;
      if (p) problems.push(...schemaProblems(v, p, root, `${path}.${name}`));
      else if (schema.additionalProperties === false) fail(`"${name}" is not allowed`);
    }
  }
  return problems;
}
