/**
 * The part of Go's text/template that a Grafana plugin route may use, evaluated as Go evaluates it
 * (Go 1.22+ src/text/template: parse/lex.go, exec.go, funcs.go), so that the test harness renders a
 * plugin.json route byte for byte as Grafana's proxy does (pkg/api/pluginproxy/utils.go
 * interpolateString: `template.New("content").Funcs({orEmpty}).Parse(text)`, then Execute on
 * templateData{URL, JsonData map[string]any, SecureJsonData map[string]string}, default missingkey).
 *
 * Supported: text, `{{ pipeline }}`, `{{ if }}…{{ else if }}…{{ else }}…{{ end }}`, `{{- -}}` trimming, field
 * chains (`.JsonData.user`), string and integer literals, parentheses, `|` pipelines, and the functions
 * and, or, not, len, slice, eq, ne, orEmpty. Anything else throws, so that a route using more than this
 * is noticed instead of being rendered differently from Grafana.
 *
 * Values: a missing map key is Go's invalid reflect.Value: printed as `<no value>`, false in `if`, and
 * `eq` with it is false. JSON null is a nil interface: printed `<nil>`. Numbers from JSON are float64.
 */

export class GoTemplateError extends Error {}

/** Go's invalid reflect.Value (a missing map key). */
const INVALID: unique symbol = Symbol('invalid');
type Value = typeof INVALID | null | string | number | boolean | GoInt | readonly unknown[] | Record<string, unknown>;
/** An untyped integer constant or an `int` result (len): Go keeps it apart from float64. */
class GoInt {
  constructor(readonly n: number) {}
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipe }
  | { kind: 'if'; branches: Array<{ pipe: Pipe; body: Node[] }>; otherwise: Node[] };
type Pipe = Cmd[];
type Cmd = Arg[];
type Arg =
  | { kind: 'field'; path: string[] }
  | { kind: 'dot' }
  | { kind: 'string'; value: string }
  | { kind: 'int'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'ident'; name: string }
  | { kind: 'pipe'; pipe: Pipe };

// ---- lexing and parsing -----------------------------------------------------------------------

interface Action {
  text: string;
}

/** Splits the template into text and action pieces, applying `{{-` / `-}}` trim markers as lex.go does. */
function pieces(src: string): Array<string | Action> {
  const out: Array<string | Action> = [];
  let at = 0;
  let trimNext = false;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
  for (;;) {
    const open = src.indexOf('{{', at);
    let text = src.slice(at, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open < 0) {
      if (text) out.push(text);
      return out;
    }
    let start = open + 2;
    // "{{- " trims the text before; the marker needs a space after it ("{{-3}}" is a number).
    if (src[start] === '-' && isSpace(src[start + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      start += 2;
    }
    if (text) out.push(text);
    if (src.startsWith('/*', start) || src.startsWith('/*', start + 1)) throw new GoTemplateError('comments are not supported');
    // The action ends at the first "}}" outside a quoted string.
    let i = start;
    let quote = '';
    for (; i < src.length; i++) {
      const c = src[i]!;
      if (quote) {
        if (c === '\\' && quote === '"') i++;
        else if (c === quote) quote = '';
      } else if (c === '"' || c === '`') quote = c;
      else if (c === '}' && src[i + 1] === '}') break;
    }
    if (i >= src.length) throw new GoTemplateError('unclosed action');
    let end = i;
    trimNext = false;
    if (src[end - 1] === '-' && isSpace(src[end - 2] ?? '')) {
      trimNext = true;
      end -= 2;
    }
    out.push({ text: src.slice(start, end) });
    at = i + 2;
  }
}

type Tok =
  | { t: 'field'; path: string[] }
  | { t: 'dot' }
  | { t: 'str'; v: string }
  | { t: 'int'; v: number }
  | { t: 'id'; v: string }
  | { t: '(' | ')' | '|' };

function tokens(action: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < action.length) {
    const c = action[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')' || c === '|') {
      out.push({ t: c });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let v = '';
      for (; j < action.length && action[j] !== '"'; j++) {
        if (action[j] === '\\') {
          const e = action[++j];
          const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"' };
          if (e === undefined || !(e in simple)) throw new GoTemplateError(`unsupported escape \\${e ?? ''}`);
          v += simple[e];
        } else v += action[j];
      }
      if (j >= action.length) throw new GoTemplateError('unterminated quoted string');
      out.push({ t: 'str', v });
      i = j + 1;
    } else if (c === '`') {
      const j = action.indexOf('`', i + 1);
      if (j < 0) throw new GoTemplateError('unterminated raw quoted string');
      out.push({ t: 'str', v: action.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '.') {
      const m = /^(?:\.[A-Za-z_][A-Za-z0-9_]*)+/.exec(action.slice(i));
      if (m) {
        out.push({ t: 'field', path: m[0].slice(1).split('.') });
        i += m[0].length;
      } else {
        out.push({ t: 'dot' });
        i++;
      }
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+/.exec(action.slice(i));
      if (!m || /^[.eExX_]/.test(action.slice(i + m[0].length))) throw new GoTemplateError(`unsupported number at "${action.slice(i)}"`);
      out.push({ t: 'int', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(action.slice(i))!;
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else throw new GoTemplateError(`unexpected "${c}" in action`);
  }
  return out;
}

function parsePipe(toks: Tok[], at: { i: number }, closing: boolean): Pipe {
  const pipe: Pipe = [];
  let cmd: Cmd = [];
  for (;;) {
    const tok = toks[at.i];
    if (!tok || tok.t === ')') {
      if (closing !== (tok?.t === ')')) throw new GoTemplateError(closing ? 'unclosed left paren' : 'unexpected right paren');
      if (tok) at.i++;
      break;
    }
    at.i++;
    if (tok.t === '|') {
      if (cmd.length === 0) throw new GoTemplateError('missing command before |');
      pipe.push(cmd);
      cmd = [];
    } else if (tok.t === '(') cmd.push({ kind: 'pipe', pipe: parsePipe(toks, at, true) });
    else if (tok.t === 'field') cmd.push({ kind: 'field', path: tok.path });
    else if (tok.t === 'dot') cmd.push({ kind: 'dot' });
    else if (tok.t === 'str') cmd.push({ kind: 'string', value: tok.v });
    else if (tok.t === 'int') cmd.push({ kind: 'int', value: tok.v });
    else if (tok.t !== 'id') throw new GoTemplateError(`unexpected ${tok.t}`);
    else if (tok.v === 'true' || tok.v === 'false') cmd.push({ kind: 'bool', value: tok.v === 'true' });
    else if (tok.v === 'nil') throw new GoTemplateError('nil is not a command');
    else cmd.push({ kind: 'ident', name: tok.v });
  }
  if (cmd.length === 0) throw new GoTemplateError('missing value for command');
  pipe.push(cmd);
  return pipe;
}

function parse(src: string): Node[] {
  const list = pieces(src);
  let at = 0;
  /** Parses until `{{ end }}` / `{{ else … }}` (returned with its tokens) or the end of input. */
  const block = (inIf: boolean): { body: Node[]; stop?: Tok[] } => {
    const body: Node[] = [];
    while (at < list.length) {
      const p = list[at++]!;
      if (typeof p === 'string') {
        body.push({ kind: 'text', text: p });
        continue;
      }
      if (/^\s*\$/.test(p.text)) throw new GoTemplateError('variables are not supported');
      const toks = tokens(p.text);
      const head = toks[0]?.t === 'id' ? toks[0].v : '';
      if (head === 'end' || head === 'else') {
        if (!inIf) throw new GoTemplateError(`unexpected {{${head}}}`);
        return { body, stop: toks };
      }
      if (['range', 'with', 'define', 'template', 'block', 'break', 'continue'].includes(head)) {
        throw new GoTemplateError(`{{${head}}} is not supported`);
      }
      if (head !== 'if') {
        body.push({ kind: 'action', pipe: parsePipe(toks, { i: 0 }, false) });
        continue;
      }
      // {{if a}}…{{else if b}}…{{else}}…{{end}}: "else if" shares the one {{end}}, as parse.go allows.
      const branches: Array<{ pipe: Pipe; body: Node[] }> = [];
      let cond = parsePipe(toks.slice(1), { i: 0 }, false);
      let otherwise: Node[] = [];
      for (;;) {
        const { body: inner, stop } = block(true);
        if (!stop) throw new GoTemplateError('unexpected EOF: {{if}} without {{end}}');
        branches.push({ pipe: cond, body: inner });
        const word = (t: Tok | undefined) => (t?.t === 'id' ? t.v : '');
        if (word(stop[0]) === 'end') {
          if (stop.length > 1) throw new GoTemplateError('unexpected tokens after end');
          break;
        }
        if (word(stop[1]) === 'if') {
          cond = parsePipe(stop.slice(2), { i: 0 }, false);
          continue;
        }
        if (stop.length > 1) throw new GoTemplateError('unexpected tokens after else');
        const { body: tail, stop: endStop } = block(true);
        if (word(endStop?.[0]) !== 'end' || endStop!.length > 1) throw new GoTemplateError('expected {{end}} after {{else}}');
        otherwise = tail;
        break;
      }
      body.push({ kind: 'if', branches, otherwise });
    }
    return { body };
  };
  const { body, stop } = block(false);
  if (stop) throw new GoTemplateError('unexpected {{end}} or {{else}}');
  return body;
}

// ---- evaluation -------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function kind(v: Value): 'invalid' | 'nil' | 'string' | 'int' | 'float' | 'bool' | 'slice' | 'map' {
  if (v === INVALID) return 'invalid';
  if (v === null) return 'nil';
  if (v instanceof GoInt) return 'int';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'float';
  if (typeof v === 'boolean') return 'bool';
  return Array.isArray(v) ? 'slice' : 'map';
}

/** exec.go isTrue: false for the zero value of the kind, and for an invalid value. */
function isTrue(v: Value): boolean {
  switch (kind(v)) {
    case 'invalid':
    case 'nil':
      return false;
    case 'string':
      return (v as string).length > 0;
    case 'int':
      return (v as GoInt).n !== 0;
    case 'float':
      return (v as number) !== 0;
    case 'bool':
      return v as boolean;
    case 'slice':
      return (v as unknown[]).length > 0;
    case 'map':
      return Object.keys(v as object).length > 0;
  }
}

/** fmt's %v of a float64, as exec.go printValue prints it (strconv 'g' with the shortest repr). */
function formatFloat(f: number): string {
  if (Number.isInteger(f) && Math.abs(f) < 1e21) return String(f);
  const exp = f.toExponential(); // shortest digits, JS style 1.5e+21
  const [m, e] = exp.split('e') as [string, string];
  const n = Number(e);
  if (n < -4 || n >= 21) return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  return String(f);
}

function print(v: Value): string {
  switch (kind(v)) {
    case 'invalid':
      return '<no value>';
    case 'nil':
      return '<nil>';
    case 'string':
      return v as string;
    case 'int':
      return String((v as GoInt).n);
    case 'float':
      return formatFloat(v as number);
    case 'bool':
      return String(v);
    default:
      throw new GoTemplateError('printing maps and slices is not supported');
  }
}

/** A value from the data: JSON numbers are float64, JSON null a nil interface. */
function fromData(v: unknown): Value {
  if (v === undefined) return INVALID;
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'object') return v as Value;
  throw new GoTemplateError(`unsupported data value ${String(v)}`);
}

/** funcs.go eq, for the basic kinds (Go ≥ 1.18: an invalid argument compares unequal, without error). */
function eq(a: Value, ...rest: Value[]): boolean {
  if (rest.length === 0) throw new GoTemplateError('missing argument for comparison');
  // indirectInterface turns a nil interface (JSON null) into an invalid value, like a missing key.
  const basic = (v: Value) => {
    const k = kind(v);
    if (k === 'nil') return 'invalid';
    return k === 'int' || k === 'float' || k === 'string' || k === 'bool' || k === 'invalid' ? k : 'complex';
  };
  const k1 = basic(a);
  for (const b of rest) {
    const k2 = basic(b);
    let truth = false;
    if (k1 !== k2) {
      if (k1 !== 'invalid' && k2 !== 'invalid') throw new GoTemplateError('incompatible types for comparison');
    } else {
      if (k1 === 'complex') throw new GoTemplateError('invalid type for comparison');
      if (k1 === 'invalid') throw new GoTemplateError('invalid type for comparison');
      const unwrap = (v: Value) => (v instanceof GoInt ? v.n : v);
      truth = unwrap(a) === unwrap(b);
    }
    if (truth) return true;
  }
  return false;
}

function goLen(v: Value): GoInt {
  switch (kind(v)) {
    case 'string':
      return new GoInt(utf8.encode(v as string).length);
    case 'slice':
      return new GoInt((v as unknown[]).length);
    case 'map':
      return new GoInt(Object.keys(v as object).length);
    case 'invalid':
    case 'nil':
      throw new GoTemplateError('len of nil pointer');
    default:
      throw new GoTemplateError(`len of type ${kind(v)}`);
  }
}

/** funcs.go slice: `slice x 1 2` is x[1:2]; strings are sliced by bytes. */
function goSlice(v: Value, ...idx: Value[]): Value {
  const index = (x: Value): number => {
    if (!(x instanceof GoInt)) throw new GoTemplateError('cannot index slice/array with non-integer');
    return x.n;
  };
  if (kind(v) === 'invalid' || kind(v) === 'nil') throw new GoTemplateError('slice of untyped nil');
  if (idx.length > 3) throw new GoTemplateError(`too many slice indexes: ${idx.length}`);
  const isString = typeof v === 'string';
  if (!isString && !Array.isArray(v)) throw new GoTemplateError(`can't slice item of type ${kind(v)}`);
  if (isString && idx.length === 3) throw new GoTemplateError('cannot 3-index slice a string');
  const bytes = isString ? utf8.encode(v) : (v as unknown[]);
  const cap = bytes.length;
  const ix = idx.map(index);
  for (const i of ix) if (i < 0 || i > cap) throw new GoTemplateError(`index out of range: ${i}`);
  const [lo = 0, hi = bytes.length] = ix;
  if (lo > hi) throw new GoTemplateError(`invalid slice index: ${lo} > ${hi}`);
  if (isString) return fromUtf8.decode((bytes as Uint8Array).subarray(lo, hi));
  return (bytes as unknown[]).slice(lo, hi) as Value;
}

const FUNCS: Record<string, (...args: Value[]) => Value> = {
  and: (...a) => {
    if (a.length === 0) throw new GoTemplateError('wrong number of args for and');
    for (const v of a) if (!isTrue(v)) return v;
    return a[a.length - 1]!;
  },
  or: (...a) => {
    if (a.length === 0) throw new GoTemplateError('wrong number of args for or');
    for (const v of a) if (isTrue(v)) return v;
    return a[a.length - 1]!;
  },
  not: (...a) => {
    if (a.length !== 1) throw new GoTemplateError('wrong number of args for not');
    return !isTrue(a[0]!);
  },
  len: (...a) => {
    if (a.length !== 1) throw new GoTemplateError('wrong number of args for len');
    return goLen(a[0]!);
  },
  slice: (v, ...idx) => goSlice(v!, ...idx),
  eq: (a, ...rest) => eq(a!, ...rest),
  ne: (a, ...rest) => {
    if (rest.length !== 1) throw new GoTemplateError('wrong number of args for ne');
    return !eq(a!, rest[0]!);
  },
  // Grafana's own (utils.go): a nil interface prints as "".
  orEmpty: (...a) => {
    if (a.length !== 1) throw new GoTemplateError('wrong number of args for orEmpty');
    return a[0] === null ? '' : a[0]!;
  },
};

/** Field access as exec.go evalField: a map key (missing → invalid), a struct field, else an error. */
function field(receiver: Value, name: string, root: boolean, data: TemplateData): Value {
  if (root) {
    if (!(name in data)) throw new GoTemplateError(`can't evaluate field ${name} in type pluginproxy.templateData`);
    return fromData((data as unknown as Record<string, unknown>)[name]);
  }
  if (kind(receiver) === 'map') return fromData((receiver as Record<string, unknown>)[name]);
  if (kind(receiver) === 'invalid' || kind(receiver) === 'nil') throw new GoTemplateError(`nil pointer evaluating interface {}.${name}`);
  throw new GoTemplateError(`can't evaluate field ${name} in type ${kind(receiver)}`);
}

/** A pipeline passes the previous command's value as the last argument. */
const withFinal = (args: Value[], final: Value | undefined): Value[] => (final === undefined ? args : [...args, final]);

function evalArg(arg: Arg, data: TemplateData, final: Value | undefined): Value {
  switch (arg.kind) {
    case 'field': {
      let v: Value = INVALID;
      arg.path.forEach((name, i) => (v = field(v, name, i === 0, data)));
      return v;
    }
    case 'dot':
      throw new GoTemplateError('printing dot (the whole templateData) is not supported');
    case 'string':
      return arg.value;
    case 'int':
      return new GoInt(arg.value);
    case 'bool':
      return arg.value;
    case 'pipe':
      return evalPipe(arg.pipe, data);
    case 'ident':
      if (!(arg.name in FUNCS)) throw new GoTemplateError(`function "${arg.name}" not defined`);
      return FUNCS[arg.name]!(...withFinal([], final));
  }
}

function evalCmd(cmd: Cmd, data: TemplateData, final: Value | undefined): Value {
  const [head, ...args] = cmd;
  if (head!.kind === 'ident') {
    const fn = FUNCS[head!.name];
    if (!fn) throw new GoTemplateError(`function "${head!.name}" not defined`);
    return fn(
      ...withFinal(
        args.map((a) => evalArg(a, data, undefined)),
        final,
      ),
    );
  }
  if (args.length > 0 || final !== undefined) throw new GoTemplateError("can't give argument to non-function");
  return evalArg(head!, data, undefined);
}

function evalPipe(pipe: Pipe, data: TemplateData): Value {
  let v: Value | undefined;
  for (const cmd of pipe) v = evalCmd(cmd, data, v);
  return v!;
}

function walk(nodes: Node[], data: TemplateData, out: string[]): void {
  for (const n of nodes) {
    if (n.kind === 'text') out.push(n.text);
    else if (n.kind === 'action') out.push(print(evalPipe(n.pipe, data)));
    else {
      const hit = n.branches.find((b) => isTrue(evalPipe(b.pipe, data)));
      walk(hit ? hit.body : n.otherwise, data, out);
    }
  }
}

/** pkg/api/pluginproxy's templateData. */
export interface TemplateData {
  URL: string;
  JsonData: Record<string, unknown>;
  SecureJsonData: Record<string, string>;
}

/** Renders like Go's Execute; throws GoTemplateError where Go's Parse or Execute returns an error. */
export function executeGoTemplate(text: string, data: TemplateData): string {
  const out: string[] = [];
  walk(parse(text), data, out);
  return out.join('');
}
