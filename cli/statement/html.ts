/**
 * The statement as one self-contained HTML page (docs/statements.md): the figures, the anchors, the
 * gaps, and a button that re-verifies every signature in the reader's browser. Everything is inline
 * (style, the statement itself as JSON, and the check: core/statement/page.ts bundled with
 * @noble/ed25519 by scripts/build.mjs), so the file works offline from a file:// URL and asks the
 * network for nothing. It prints on one A4 page.
 */
import type { Gap, Segment, SignedReading, Statement } from '../../core/statement/format';

/** The bundled page check; scripts/build.mjs defines it when it builds dist/meterproof.js. */
declare const __METERPROOF_STATEMENT_PAGE__: string | undefined;

export function bundledPageScript(): string {
  if (typeof __METERPROOF_STATEMENT_PAGE__ !== 'string')
    throw new Error('this meterproof was built without the statement page script (run npm run build)');
  return __METERPROOF_STATEMENT_PAGE__;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A value the page's check compares with the embedded statement: `path` into it, shown as is. */
const bound = (path: string, value: string | number | null, cls = ''): string =>
  `<span data-bind="${esc(path)}"${cls ? ` class="${cls}"` : ''}>${esc(value === null ? '—' : String(value))}</span>`;

/** Inline script text: `</script` and `<!--` must not occur in it, whatever the bundle holds. */
const scriptText = (js: string): string => js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 10pt/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; margin: 0 auto; max-width: 190mm; padding: 8mm 0; }
h1 { font-size: 15pt; margin: 0 0 1mm; }
h2 { font-size: 10.5pt; margin: 4mm 0 1.5mm; }
.sub { color: #444; margin: 0 0 3mm; }
.figure { border: 1.5pt solid #111; padding: 3mm 4mm; margin: 2mm 0 3mm; display: flex; gap: 6mm; align-items: baseline; flex-wrap: wrap; }
.figure .big { font-size: 22pt; font-weight: 700; }
.figure .what { color: #333; }
table { border-collapse: collapse; width: 100%; font-size: 8pt; }
th, td { border-bottom: 0.5pt solid #bbb; padding: 1mm 1.2mm; text-align: left; vertical-align: top; }
th { font-weight: 600; background: #f2f2f2; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.sig { font: 5.6pt/1.2 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; word-break: break-all; color: #333; }
.muted { color: #555; }
.nowrap, td.num { white-space: nowrap; }
.mark { font-weight: 600; white-space: nowrap; }
.mark.ok { color: #0a6b2d; } .mark.bad { color: #b00020; }
.notes { font-size: 8pt; color: #333; padding-left: 4mm; margin: 1mm 0; }
.check { display: flex; gap: 3mm; align-items: flex-start; margin: 3mm 0; }
button { font: inherit; padding: 1.5mm 4mm; cursor: pointer; }
.result { flex: 1; font-size: 9pt; }
.result.pass strong { color: #0a6b2d; } .result.fail strong { color: #b00020; }
.result ul { margin: 1mm 0 0; padding-left: 4mm; }
footer { font-size: 7pt; color: #555; margin-top: 3mm; border-top: 0.5pt solid #bbb; padding-top: 1.5mm; }
@page { size: A4; margin: 10mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 9pt; }
  button { display: none; }
  .result:empty { display: none; }
  h2 { break-after: avoid; }
  tr { break-inside: avoid; }
}
`;

function readingCells(r: SignedReading, path: string, mark: string): string {
  return (
    `<td>${bound(`${path}.signed_time`, r.signed_time, 'mono')}<br><span class="muted nowrap">stored ${bound(`${path}.stored_time`, r.stored_time)}</span></td>` +
    `<td class="num mono">${bound(`${path}.signed_total`, r.signed_total)}</td>` +
    `<td><div class="sig">${bound(`${path}.signature`, r.signature)}</div><span class="mark" data-signature="${mark}"></span></td>`
  );
}

function segmentRows(segments: readonly Segment[]): string {
  return segments
    .map((s, i) => {
      const p = `segments.${i}`;
      const phases = s.phases_kwh_text
        ? `<br><span class="muted">phases ${bound(`${p}.phases_kwh_text`, s.phases_kwh_text.join(','))}</span>`
        : '';
      return (
        `<tr><td rowspan="2">${i + 1}</td><td rowspan="2"><span class="mono">${bound(`${p}.fingerprint`, s.fingerprint)}</span>` +
        `<div class="sig">${bound(`${p}.public_key`, s.public_key)}</div></td><td>start</td>${readingCells(s.start, `${p}.start`, `${i}-start`)}` +
        `<td rowspan="2" class="num"><strong>${bound(`${p}.consumption_kwh_text`, s.consumption_kwh_text)}</strong> kWh${phases}` +
        `<br><span class="muted">${bound(`${p}.readings`, s.readings)} readings</span></td></tr>` +
        `<tr><td>end</td>${readingCells(s.end, `${p}.end`, `${i}-end`)}</tr>`
      );
    })
    .join('\n');
}

const GAP_LABEL: Record<Gap['kind'], string> = {
  before_first_reading: 'before the first reading',
  between_segments: 'between segments (new key)',
  after_last_reading: 'after the last reading',
};

function gapRows(gaps: readonly Gap[]): string {
  if (gaps.length === 0) return '<tr><td colspan="4">None: the segments cover the whole period.</td></tr>';
  return gaps
    .map((g, i) => {
      const p = `gaps.${i}`;
      return (
        `<tr><td>${esc(GAP_LABEL[g.kind])}</td><td>${bound(`${p}.from`, g.from)}<br><span class="muted">signed ${bound(`${p}.from_signed_time`, g.from_signed_time)}</span></td>` +
        `<td>${bound(`${p}.to`, g.to)}<br><span class="muted">signed ${bound(`${p}.to_signed_time`, g.to_signed_time)}</span></td>` +
        `<td class="num">${bound(`${p}.seconds`, g.seconds)} s</td></tr>`
      );
    })
    .join('\n');
}

function irregularities(s: Statement): string {
  const { count, examples } = s.irregularities;
  if (count === 0) return `<p>None: all ${bound('readings_checked', s.readings_checked)} readings checked go up in order.</p>`;
  const shown = examples
    .slice(0, 5)
    .map(
      (e) =>
        `<li><span class="mono">${esc(e.stored_time)}</span> ${esc(e.kind)}: ${esc(e.detail)}${e.signed_message ? ` (<span class="mono">${esc(e.signed_message)}</span>)` : ''}</li>`,
    )
    .join('');
  return (
    `<p>${bound('irregularities.count', count)} of ${bound('readings_checked', s.readings_checked)} readings checked broke the order ` +
    `(none of them is an anchor; see the JSON for the first ${examples.length}):</p><ul class="notes">${shown}</ul>`
  );
}

/** The page. `script` is the bundled check (bundledPageScript() in the built CLI). */
export function statementHtml(s: Statement, script: string): string {
  const first = s.segments[0]!,
    last = s.segments[s.segments.length - 1]!;
  const json = JSON.stringify(s).replace(/</g, '\\u003c');
  const phases = s.phases_kwh_text
    ? `<div class="what">per phase ${bound('phases_kwh_text', s.phases_kwh_text.join(','), 'mono')} kWh</div>`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Verified consumption: ${esc(s.device)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>Verified consumption of ${bound('device', s.device)}</h1>
<p class="sub">Period asked for (stored time, UTC): ${bound('from', s.from)} to ${bound('to', s.to)}</p>
<div class="figure">
  <div><span class="big">${bound('consumption_kwh_text', s.consumption_kwh_text)}</span> kWh</div>
  <div class="what">proven by signed readings from ${bound('segments.0.start.signed_time', first.start.signed_time, 'mono')} to ${bound(`segments.${s.segments.length - 1}.end.signed_time`, last.end.signed_time, 'mono')} (plug clock, as signed)</div>
  ${phases}
</div>
<div class="check"><button id="check" type="button">Re-verify every signature in this browser</button><div id="result" class="result" aria-live="polite"></div></div>
<h2>Segments: one plug key each, energy = end Total − start Total</h2>
<table>
<thead><tr><th>#</th><th>key fingerprint / public key</th><th></th><th>signed time (proven) / stored time</th><th class="num">signed Total</th><th>signature</th><th class="num">energy</th></tr></thead>
<tbody>
${segmentRows(s.segments)}
</tbody>
</table>
<h2>Gaps: energy no signature proves (not in the figure, not estimated)</h2>
<table>
<thead><tr><th>where</th><th>from</th><th>to</th><th class="num">length</th></tr></thead>
<tbody>
${gapRows(s.gaps)}
</tbody>
</table>
<h2>Order of the readings in between</h2>
${irregularities(s)}
<h2>What this proves</h2>
<ul class="notes">${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>
<footer>Read from database ${bound('source.database', s.source.database)}, measurement ${bound('source.measurement', s.source.measurement)}, on ${bound('created', s.created)} by ${bound('generator', s.generator)}.
Check it without a browser: <span class="mono">meterproof statement verify FILE.json --keys pub_keys.json</span> (the JSON is embedded in this page, id "statement").</footer>
<script type="application/json" id="statement">${json}</script>
<script>${scriptText(script)}</script>
</body>
</html>
`;
}
