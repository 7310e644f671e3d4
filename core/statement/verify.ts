/**
 * Checking a statement with nothing but the statement (and, optionally, the key registry): every
 * signature, the arithmetic, the order of the segments and that the gaps lie exactly between them.
 * The signature check is passed in, so Node (`meterproof statement verify`, libsodium or node:crypto)
 * and the browser (the HTML page, strict @noble/ed25519) run the same rules. Browser-safe.
 */
import schema from '../../statement.schema.json';
import { signedMessage, signedTime } from '../firmware';
import { keyValidAt } from '../key-entry';
import type { KeyFile } from '../keyfile';
import { KeyRejected, parsePublicKey } from '../pubkey';
import { expectedGaps, segmentFigures, statementFigures } from './arithmetic';
import { goesDown, parseTotalText } from './decimal';
import type { Gap, Segment, SignedReading, Statement } from './format';
import { schemaProblems, type JsonSchema } from './schema-check';
import { parseStoredTime } from './time';

export interface StatementCrypto {
  /** Whether the 128-hex signature is valid over `message` (ASCII) under the admitted 64-hex key. */
  verify(signatureHex: string, message: string, publicKeyHex: string): Promise<boolean> | boolean;
  /** The key's fingerprint as `meterproof keys` prints it (first 8 bytes of SHA-256, aa:bb:…). */
  fingerprint(publicKeyHex: string): Promise<string> | string;
}

export interface SignatureResult {
  readonly segment: number;
  readonly which: 'start' | 'end';
  readonly ok: boolean;
}

export interface StatementCheck {
  /** Why the statement does not hold; empty when it does. */
  readonly problems: readonly string[];
  /** Each signature's result, in segment order (start, end). */
  readonly signatures: readonly SignatureResult[];
  /** Whether the keys were checked against a registry; otherwise they were taken from the statement. */
  readonly keysFromRegistry: boolean;
}

/** Only the schema, for the tests and for readers who want the structure alone. */
export const structureProblems = (doc: unknown): string[] => schemaProblems(doc, schema as JsonSchema);

export async function checkStatement(doc: unknown, crypto: StatementCrypto, registry?: KeyFile): Promise<StatementCheck> {
  const problems: string[] = [];
  const signatures: SignatureResult[] = [];
  const structure = structureProblems(doc);
  if (structure.length > 0) return { problems: structure.map((p) => `not a statement: ${p}`), signatures, keysFromRegistry: false };
  const s = doc as Statement;
  const fail = (why: string) => problems.push(why);

  const from = parseStoredTime(s.from),
    to = parseStoredTime(s.to);
  if (from === undefined || to === undefined || from >= to) fail(`the period ${s.from} to ${s.to} is not a period`);

  for (const [i, seg] of s.segments.entries()) {
    const name = `segment ${i + 1}`;
    let keyOk = true;
    try {
      parsePublicKey(seg.public_key);
    } catch (e) {
      if (!(e instanceof KeyRejected)) throw e;
      fail(`${name}: public key ${e.message}`);
      keyOk = false;
    }
    if (keyOk && (await crypto.fingerprint(seg.public_key)) !== seg.fingerprint)
      fail(`${name}: fingerprint ${seg.fingerprint} is not that of its public key`);
    for (const which of ['start', 'end'] as const) {
      const r = seg[which];
      const shape = readingProblem(r);
      if (shape) fail(`${name} ${which} reading: ${shape}`);
      const ok = keyOk && !shape && (await crypto.verify(r.signature, r.signed_message, seg.public_key));
      signatures.push({ segment: i, which, ok });
      if (keyOk && !shape && !ok)
        fail(`${name} ${which} reading: the signature does not verify "${r.signed_message}" under the segment's key`);
      if (registry) {
        const entries = registry.devices.get(s.device);
        if (!entries) fail(`${name}: device "${s.device}" is not in the key registry`);
        else if (!entries.some((e) => e.key.hex === seg.public_key))
          fail(`${name}: key ${seg.fingerprint} is not registered for device "${s.device}"`);
        else if (!entries.some((e) => e.key.hex === seg.public_key && keyValidAt(e, r.signed_time)))
          fail(
            `${name} ${which} reading: key ${seg.fingerprint} is not valid at ${r.signed_time} (revoked, or outside not_before/not_after)`,
          );
      }
    }
    problems.push(...segmentProblems(name, seg));
  }

  problems.push(...orderProblems(s));
  const gaps = expectedGaps(s.from, s.to, s.segments);
  if (!sameGaps(gaps, s.gaps))
    fail(
      `the gaps are not exactly the time between the segments and the period's edges: expected ${describeGaps(gaps)}, found ${describeGaps(s.gaps)}`,
    );
  const figures = statementFigures(s.segments);
  if (figures.consumption_kwh_text !== s.consumption_kwh_text)
    fail(`consumption_kwh_text ${s.consumption_kwh_text} is not the sum of the segments (${figures.consumption_kwh_text})`);
  if (s.consumption_kwh !== Number(s.consumption_kwh_text))
    fail(`consumption_kwh ${s.consumption_kwh} is not consumption_kwh_text ${s.consumption_kwh_text}`);
  if (JSON.stringify(figures.phases_kwh_text) !== JSON.stringify(s.phases_kwh_text))
    fail(
      `phases_kwh_text ${JSON.stringify(s.phases_kwh_text)} is not the sum of the segments' (${JSON.stringify(figures.phases_kwh_text)})`,
    );
  const counted = s.segments.reduce((n, seg) => n + seg.readings, 0);
  if (s.readings_checked < counted) fail(`readings_checked ${s.readings_checked} is less than the segments' readings (${counted})`);
  if (s.irregularities.count < s.irregularities.examples.length) fail('irregularities: fewer counted than listed');
  return { problems, signatures, keysFromRegistry: registry !== undefined };
}

function readingProblem(r: SignedReading): string | undefined {
  if (signedTime(r.signed_time) !== r.signed_time) return `signed_time "${r.signed_time}" is not a date and time`;
  if (!parseTotalText(r.signed_total)) return `signed_total "${r.signed_total}" is not a Total the firmware prints`;
  if (r.signed_message !== signedMessage(r.signed_time, r.signed_total))
    return `signed_message "${r.signed_message}" is not signed_time,signed_total`;
  if (parseStoredTime(r.stored_time) === undefined) return `stored_time "${r.stored_time}" is not a time`;
  return undefined;
}

function segmentProblems(name: string, seg: Segment): string[] {
  const out: string[] = [];
  const { start, end } = seg;
  const a = parseTotalText(start.signed_total),
    b = parseTotalText(end.signed_total);
  if (!a || !b) return out; // said already
  const sameReading = start.signature === end.signature && start.signed_message === end.signed_message;
  if (sameReading ? start.stored_time !== end.stored_time : start.signed_time >= end.signed_time)
    out.push(`${name}: its end (signed ${end.signed_time}) is not after its start (signed ${start.signed_time})`);
  if (!sameReading && !(parseStoredTime(start.stored_time)! < parseStoredTime(end.stored_time)!))
    out.push(`${name}: its end was not stored after its start`);
  if (goesDown(a, b)) out.push(`${name}: the Total goes down from ${start.signed_total} to ${end.signed_total}`);
  const figures = segmentFigures(start, end);
  if ('problem' in figures) return [...out, `${name}: ${figures.problem}`];
  if (figures.consumption_kwh_text !== seg.consumption_kwh_text)
    out.push(
      `${name}: consumption_kwh_text ${seg.consumption_kwh_text} is not ${end.signed_total} − ${start.signed_total} = ${figures.consumption_kwh_text}`,
    );
  if (seg.consumption_kwh !== Number(seg.consumption_kwh_text))
    out.push(`${name}: consumption_kwh ${seg.consumption_kwh} is not consumption_kwh_text ${seg.consumption_kwh_text}`);
  if (JSON.stringify(figures.phases_kwh_text) !== JSON.stringify(seg.phases_kwh_text))
    out.push(`${name}: phases_kwh_text ${JSON.stringify(seg.phases_kwh_text)} is not ${JSON.stringify(figures.phases_kwh_text)}`);
  if (seg.readings < (sameReading ? 1 : 2)) out.push(`${name}: readings ${seg.readings} cannot hold its start and end`);
  return out;
}

/**
 * Segments follow each other in stored time and in signed time, without overlap: energy that two
 * segments both count would be counted twice. Two segments of one key must also not go down between
 * them.
 */
function orderProblems(s: Statement): string[] {
  const out: string[] = [];
  const to = parseStoredTime(s.to);
  s.segments.forEach((seg, i) => {
    const end = parseStoredTime(seg.end.stored_time);
    if (to !== undefined && end !== undefined && end > to)
      out.push(`segment ${i + 1} ends after the period (stored ${seg.end.stored_time})`);
    if (i === 0) return;
    const prev = s.segments[i - 1]!;
    const a = parseStoredTime(prev.end.stored_time),
      b = parseStoredTime(seg.start.stored_time);
    if (a === undefined || b === undefined || !(a < b) || !(prev.end.signed_time < seg.start.signed_time))
      out.push(
        `segments ${i} and ${i + 1} overlap or are out of order: ${i} ends at ${prev.end.signed_time} (stored ${prev.end.stored_time}), ` +
          `${i + 1} starts at ${seg.start.signed_time} (stored ${seg.start.stored_time})`,
      );
  });
  // One key's counter never goes down, however many segments it has.
  s.segments.forEach((seg, i) => {
    const later = s.segments.slice(i + 1).find((o) => o.public_key === seg.public_key);
    const a = parseTotalText(seg.end.signed_total),
      b = later && parseTotalText(later.start.signed_total);
    if (a && b && goesDown(a, b))
      out.push(`key ${seg.fingerprint} goes down from ${seg.end.signed_total} to ${later!.start.signed_total} between its segments`);
  });
  return out;
}

const GAP_FIELDS = ['kind', 'from', 'to', 'seconds', 'from_signed_time', 'to_signed_time'] as const;
const sameGaps = (a: readonly Gap[], b: readonly Gap[]): boolean =>
  a.length === b.length && a.every((g, i) => GAP_FIELDS.every((f) => g[f] === b[i]![f]));

const describeGaps = (gaps: readonly { kind: string; from: string; to: string }[]): string =>
  gaps.length === 0 ? 'none' : gaps.map((g) => `${g.kind} ${g.from}–${g.to}`).join(', ');
