/** Plain text tables for terminals: columns padded to their widest cell, a rule under the header. */

export type Align = 'left' | 'right';

export interface TableOptions {
  /** Per column; default left. Counts read best right-aligned. */
  readonly align?: readonly Align[];
  /** A last row set off by a rule, such as a total. */
  readonly footer?: readonly string[];
}

export function textTable(head: readonly string[], rows: readonly (readonly string[])[], o: TableOptions = {}): string {
  const all = o.footer ? [head, ...rows, o.footer] : [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const rule = widths.map((w) => '-'.repeat(w));
  const fmt = (r: readonly string[]) =>
    widths
      .map((w, c) => (o.align?.[c] === 'right' ? (r[c] ?? '').padStart(w) : (r[c] ?? '').padEnd(w)))
      .join('  ')
      .trimEnd();
  const lines = [head, rule, ...rows, ...(o.footer ? [rule, o.footer] : [])].map(fmt);
  return `${lines.join('\n')}\n`;
}
