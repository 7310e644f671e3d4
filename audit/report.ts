/** The audit's output: a table for people, or one JSON document for machines. */
import { fieldRef, quoteIdent } from '../core/influxql';
import { textTable, type Align } from '../core/text-table';
import { displayUrl } from './display-url';
import type { VerifiedLater } from './late-keys';
import { DISAGREEMENT_KINDS, type DisagreementKind } from './recheck';
import type { AuditResult } from './run';
import { MAX_EXAMPLES, type DeviceTally } from './tally';

export interface AuditScope {
  readonly url: string;
  readonly db: string;
  readonly measurement: string;
}

/** What `--retag` did: the rows rewritten (stored order), or that it was declined, or how it failed. */
export interface RetagOutcome {
  readonly done: readonly VerifiedLater[];
  readonly declined?: boolean;
  readonly error?: string;
}

/** What the audit cannot see; printed with every report so nobody reads more into a pass. */
export const LIMITS =
  'The audit re-checks signatures, not ordering: rows the processor marked replay or rollback carry valid ' +
  'signatures by design and count as agreeing. Only Time and Total are signed; other fields (Power, Voltage, …) ' +
  'are never verified.';

const KIND_LABEL: Record<DisagreementKind, string> = {
  forged_verified: 'verified=true but not proven',
  rejected_but_valid: 'rejected but verifies now',
  message_mismatch: 'signed_message differs from the fields',
};

export function toJson(scope: AuditScope, r: AuditResult, retag?: RetagOutcome): string {
  const devices = r.tally.devices();
  const later = r.verifiedLater ?? [];
  const doc = {
    ...scope,
    url: displayUrl(scope.url),
    rows: r.tally.rows,
    reverified: sum(devices, (d) => d.reverified),
    disagreements: r.tally.disagreements,
    shadowed: r.shadowed,
    byKind: Object.fromEntries(DISAGREEMENT_KINDS.map((k) => [k, sum(devices, (d) => d.byKind[k])])),
    verifiedLater: {
      rows: later.length,
      retaggable: later.filter((v) => v.left === undefined).length,
      list: later.map(laterJson),
    },
    ...(retag && {
      retagged: {
        rows: retag.done.length,
        ...(retag.declined && { declined: true }),
        ...(retag.error !== undefined && { error: retag.error }),
        list: retag.done.map((v) => ({ time: v.time, device: v.device, signedMessage: v.signedMessage })),
      },
    }),
    devices,
    examples: r.tally.examples,
    stats: r.stats,
    limits: LIMITS,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

const laterJson = (v: VerifiedLater) => ({
  time: v.time,
  device: v.device,
  status: v.status,
  signedMessage: v.signedMessage,
  key: v.key,
  notBefore: v.notBefore,
  retag: v.left === undefined,
  ...(v.left !== undefined && { left: v.left }),
  ...(v.corrected && { corrected: true }),
});

type Counts = Pick<
  DeviceTally,
  'device' | 'rows' | 'signed' | 'reverified' | 'storedVerified' | 'untagged' | 'disagreements' | 'verifiedLater'
>;

/** The report for people; what `--retag` did follows it (retagLines). */
export function toTable(scope: AuditScope, r: AuditResult): string {
  const devices = r.tally.devices();
  const later = r.verifiedLater ?? [];
  const header = ['DEVICE', 'ROWS', 'SIGNED', 'RE-VERIFIED', 'STORED VERIFIED', 'UNTAGGED', 'DISAGREEMENTS', 'VERIFIED LATER'];
  const line = (d: Counts) => [
    d.device,
    ...[d.rows, d.signed, d.reverified, d.storedVerified, d.untagged, d.disagreements, d.verifiedLater].map((n) =>
      n.toLocaleString('en-US'),
    ),
  ];
  const total = {
    device: 'all devices',
    rows: r.tally.rows,
    signed: sum(devices, (d) => d.signed),
    reverified: sum(devices, (d) => d.reverified),
    storedVerified: sum(devices, (d) => d.storedVerified),
    untagged: sum(devices, (d) => d.untagged),
    disagreements: r.tally.disagreements,
    verifiedLater: later.length,
  };
  const align = header.map((_, c): Align => (c === 0 ? 'left' : 'right'));
  const table = textTable(header, devices.map(line), { align, footer: line(total) });
  const out = [`Audit of "${scope.measurement}" in database "${scope.db}" at ${displayUrl(scope.url)}`, '', table];

  if (r.tally.disagreements > 0) {
    const kinds = DISAGREEMENT_KINDS.map((k) => [k, sum(devices, (d) => d.byKind[k])] as const).filter(([, n]) => n > 0);
    out.push(
      `Disagreements with the stored verified tag: ${kinds.map(([k, n]) => `${n.toLocaleString('en-US')} ${KIND_LABEL[k]}`).join(', ')}`,
    );
    const shown = r.tally.examples.length < r.tally.disagreements ? ` (first ${r.tally.examples.length})` : '';
    out.push(`Examples${shown}:`, ...r.tally.examples.map((e) => `  ${e.time}  ${e.device}  ${e.kind}: ${e.detail}`), '');
  } else if (later.length > 0) {
    out.push('Every row agrees with its stored verified tag, apart from the rows verified later below.', '');
  } else {
    out.push('Every row agrees with its stored verified tag.', '');
  }
  if (later.length > 0) out.push(...laterLines(later), '');
  if (r.shadowed.length > 0) out.push(...shadowedLines(scope.measurement, r.shadowed), '');
  const s = r.stats;
  out.push(
    `${r.tally.rows.toLocaleString('en-US')} rows in ${s.seconds} s (${s.rowsPerSecond.toLocaleString('en-US')} rows/s, ${s.verifier}, peak memory ${Math.round(s.peakRssBytes / 2 ** 20)} MiB).`,
  );
  out.push(LIMITS);
  return `${out.join('\n')}\n`;
}

/** The verified-later rows: what they are, how many `--retag` would rewrite, and the first few. */
function laterLines(later: readonly VerifiedLater[]): string[] {
  const retaggable = later.filter((v) => v.left === undefined).length;
  const shown = later.length > MAX_EXAMPLES ? ` (first ${MAX_EXAMPLES})` : '';
  return [
    `Verified later: ${count(later.length, 'row')} rejected when stored (bad_signature or unknown_device) verify under a key`,
    'registered after they arrived (a key with not_before; docs/audit.md, "Verified later").',
    `They are not disagreements. ${retaggable === later.length ? 'All' : count(retaggable, 'row')} can be re-tagged with --retag${retaggable > 0 ? ' (verified=true, verify_status=ok, signed_message)' : ''}.`,
    `Rows${shown}:`,
    ...later
      .slice(0, MAX_EXAMPLES)
      .map(
        (v) =>
          `  ${v.time}  ${v.device}  ${v.status}  "${v.signedMessage}"  key ${v.key.slice(0, 16)}… from ${v.notBefore}: ${v.left === undefined ? (v.corrected ? 're-taggable (its corrected row is already stored)' : 're-taggable') : `left, ${v.left}`}`,
      ),
  ];
}

/** What `--retag` did, for people. */
export function retagLines(scope: AuditScope, outcome: RetagOutcome): string {
  const out: string[] = [];
  if (outcome.declined) return 'Not re-tagged.\n';
  if (outcome.done.length > 0 || outcome.error === undefined) {
    out.push(
      `Re-tagged ${count(outcome.done.length, 'row')} in "${scope.measurement}": written again with verified=true, verify_status=ok and signed_message, the old points deleted.`,
    );
    const shown = outcome.done.length > MAX_EXAMPLES ? ` (first ${MAX_EXAMPLES}; --json lists them all)` : '';
    if (outcome.done.length > 0)
      out.push(`Rows${shown}:`, ...outcome.done.slice(0, MAX_EXAMPLES).map((v) => `  ${v.time}  ${v.device}  "${v.signedMessage}"`));
  }
  return `${out.join('\n')}\n`;
}

const count = (n: number, noun: string) => `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;

/** The shadowed-tag finding in words, with the query that lists the rows carrying such a field. */
function shadowedLines(measurement: string, shadowed: readonly string[]): string[] {
  const names = shadowed.map((n) => `"${n}"`).join(', ');
  return [
    `Shadowed tags: fields named ${names} exist beside the tags of these names. InfluxQL that names such a tag`,
    'without ::tag reads the field instead, so queries and alerts on it miss the genuine rows (the audit read the',
    'tags). The rows that carry these fields:',
    `  SELECT ${shadowed.map(fieldRef).join(', ')} FROM ${quoteIdent(measurement)}`,
  ];
}

function sum(devices: readonly DeviceTally[], f: (d: DeviceTally) => number): number {
  return devices.reduce((n, d) => n + f(d), 0);
}
