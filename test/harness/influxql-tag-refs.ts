/**
 * Finds InfluxQL that names a verdict or identity tag without `::tag` (docs/grafana.md, "Name tags as
 * tags"): in a query string, or in the InfluxQL a Markdown, JSON or YAML file shows. Lenient on purpose:
 * it reads Grafana macros and shell-quoted queries that InfluxDB's own parser would not.
 */

/** Tags that a field of the same name would shadow. */
export const SHADOWABLE_TAGS = ['verified', 'verify_status', 'device', 'topic'] as const;

const NAMES = SHADOWABLE_TAGS.join('|');
/** `"device"` not followed by `::tag` or `::field` (an explicit field is no tag reference). */
const QUOTED = new RegExp(`"(${NAMES})"(?!::(?:tag|field)\\b)`, 'g');
/** A bare `device`, not part of a longer name, a variable or a quoted identifier. */
const BARE = new RegExp(`(?<![\\w"$.:])(${NAMES})(?![\\w"]|::(?:tag|field)\\b)`, 'g');
/** `SHOW TAG VALUES … WITH KEY = "device"`: a tag key by definition. */
const TAG_KEY_BEFORE = /\bKEY\s*(?:=|IN\s*\()\s*(?:"[^"]*"\s*,\s*)*$/i;

const KEYWORDS = /\b(?:SELECT|SHOW|WHERE|GROUP BY)\b/;
const COMPARISON = /(?:=~|!~|!=|<>|=)\s*['/]/;

/** What cannot hold a tag reference: comments at line start, Grafana variables, strings, regexes. */
function blankLiterals(q: string): string {
  return q
    .replace(/^\s*--.*$/gm, '')
    .replace(/\$\{[^}]*\}|\[\[[^\]]*\]\]|\$\w+/g, ' ')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''")
    .replace(/((?:=~|!~|SELECT|[(,])\s*)\/(?:[^/\\\n]|\\.)*\//g, '$1//');
}

/** The tag references in `q` that lack `::tag`, each with a little context. */
export function unqualifiedTagRefs(q: string): string[] {
  const text = blankLiterals(q);
  const found: string[] = [];
  for (const re of [QUOTED, BARE]) {
    for (const m of text.matchAll(re)) {
      if (TAG_KEY_BEFORE.test(text.slice(0, m.index))) continue;
      found.push(text.slice(Math.max(0, m.index - 30), m.index + m[0].length + 10).replace(/\s+/g, ' '));
    }
  }
  return found;
}

/** Does this bit of a document read as InfluxQL (a statement, a condition, or a lone identifier)? */
export const looksLikeInfluxQL = (text: string): boolean =>
  KEYWORDS.test(text) || COMPARISON.test(text) || /^"[^"\n]+"(?:::\w+)?$/.test(text.trim());

/**
 * The InfluxQL a Markdown file shows: every `sql`/`influxql` code block whole; in other code blocks,
 * each line from its first keyword on (`curl --data-urlencode 'q=SELECT …'`); and inline code that
 * reads as InfluxQL.
 */
export function influxqlInMarkdown(md: string): string[] {
  const out: string[] = [];
  const prose = md.replace(/^( *)(```+|~~~+)([^\n]*)\n([^]*?)^\1\2[ \t]*$/gm, (_all, _indent, _fence, info: string, body: string) => {
    if (/^\s*(?:sql|influxql)\b/i.test(info)) out.push(body);
    else
      for (const line of body.split('\n')) {
        const k = KEYWORDS.exec(line);
        if (k) out.push(line.slice(k.index));
      }
    return '';
  });
  for (const m of prose.matchAll(/(`+)([^`]|[^`][^]*?[^`])\1(?!`)/g)) if (looksLikeInfluxQL(m[2]!)) out.push(m[2]!);
  return out;
}

/** The InfluxQL in a JSON document: every string value that reads as InfluxQL. */
export function influxqlInJson(value: unknown): string[] {
  if (typeof value === 'string') return looksLikeInfluxQL(value) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap(influxqlInJson);
  if (value && typeof value === 'object') return Object.values(value).flatMap(influxqlInJson);
  return [];
}

/** The InfluxQL in a YAML file, comments included: each line that reads as InfluxQL. */
export const influxqlInYaml = (yaml: string): string[] => yaml.split('\n').filter((line) => KEYWORDS.test(line) || COMPARISON.test(line));
