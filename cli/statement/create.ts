/**
 * Making a statement for one device from what InfluxDB holds (docs/statements.md):
 * 1. anchors, found with cheap time-bounded selectors (`ORDER BY time DESC` from a bound, stopped at the
 *    first hit): the last accepted reading at or before `from` (else the first after it) and the last at
 *    or before `to`. A row qualifies only if the processor accepted it (`verified=true`,
 *    `verify_status=ok`) and its signature re-verifies now (audit/recheck.ts) under a registered key
 *    valid at its signed Time;
 * 2. one streamed pass over only `signed_message` of the accepted rows between the anchors, checking
 *    that Totals never go down and signed Times always move on. Where a Total goes down, the two rows
 *    are re-verified: two different keys mean a hard reset (a new segment, and a gap), one key means an
 *    irregularity, reported;
 * 3. each segment must begin and end under one key; where it does not (a new key without a drop), the
 *    change is found by bisection over stored time;
 * 4. the figures and gaps follow (core/statement/arithmetic.ts), and the statement is checked by
 *    `statement verify`'s own rules before it is handed out.
 */
import { Rechecker, RowLayout } from '../../audit/recheck';
import type { InfluxTarget } from '../../audit/influx-pager';
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { SIGNED_TIME_LENGTH, signedTime } from '../../core/firmware';
import { keysValidAt, type KeyEntry, type KeyFile } from '../../core/keyfile';
import type { SignatureVerifier } from '../../core/node/verifier';
import { JsonError, parseJson } from '../../core/payload/json-spans';
import { hexToBytes } from '../../core/pubkey';
import { derivedFields, segmentFigures, signedReading } from '../../core/statement/arithmetic';
import { goesDown, parseTotalText, type SignedTotal } from '../../core/statement/decimal';
import {
  MAX_IRREGULARITY_EXAMPLES,
  STATEMENT_FORMAT,
  STATEMENT_NOTES,
  type Irregularity,
  type IrregularityKind,
  type Segment,
  type Statement,
} from '../../core/statement/format';
import { formatStoredTime, parseStoredTime } from '../../core/statement/time';
import { checkStatement, type StatementCrypto } from '../../core/statement/verify';
import { fingerprint } from '../keys';
import { queryPages, queryRows } from '../../audit/influx-pager';
import { countStatement, fieldKeysStatement, messageSelect, rowFields, rowSelect, type Bound } from './queries';

/** The statement cannot be made; the reason is for the person who asked (exit status 2). */
export class StatementError extends Error {}

export interface StatementSource {
  readonly target: InfluxTarget;
  readonly measurement: string;
  readonly keys: KeyFile;
  readonly crypto: SignatureVerifier;
  /** The same check `statement verify` runs, on the statement before it is handed out. */
  readonly statementCrypto: StatementCrypto;
  /** Rows per page of the order pass. */
  readonly pageSize: number;
  readonly generator: string;
}

/** The measurement's fields, read once for any number of devices. */
export async function measurementFields(source: Pick<StatementSource, 'target' | 'measurement'>): Promise<string[]> {
  const rows = await queryRows(source.target, fieldKeysStatement(source.measurement));
  return rowFields([...new Set(rows.map((r) => r[0]).filter((k): k is string => typeof k === 'string'))]);
}

/** A stored row that re-verified: where it is, what was signed, and the key that signed it. */
interface Anchor {
  readonly stored: string;
  readonly ns: bigint;
  readonly time19: string;
  readonly totalText: string;
  readonly total: SignedTotal;
  readonly signature: string;
  readonly key: KeyEntry;
}

/** A reading as the order pass sees it: signed_message only, not re-verified. */
interface Seen {
  readonly stored: string;
  readonly message: string;
  readonly time19: string;
  readonly total: SignedTotal;
  readonly index: number;
}

/** A hard reset found by the pass: the last reading of one key and the first of the next. */
interface Boundary {
  readonly last: Anchor;
  readonly lastIndex: number;
  readonly first: Anchor;
  readonly firstIndex: number;
}

/** Drops re-verified before the statement gives up: a genuine history has one per hard reset. */
export const MAX_DROPS = 1000;
const ANCHOR_PAGE = 50;
const MAX_ANCHOR_PAGE = 10_000;
const MAX_REMEMBERED = 100_000;

const names = DEFAULT_FIELD_NAMES;
const sameKey = (a: KeyEntry, b: KeyEntry): boolean => a.key.hex === b.key.hex;

function parseMessage(message: unknown): { time19: string; totalText: string; total: SignedTotal } | undefined {
  if (typeof message !== 'string' || message[SIGNED_TIME_LENGTH] !== ',') return undefined;
  const time19 = message.slice(0, SIGNED_TIME_LENGTH);
  if (signedTime(time19) !== time19) return undefined;
  const totalText = message.slice(SIGNED_TIME_LENGTH + 1);
  const total = parseTotalText(totalText);
  return total && { time19, totalText, total };
}

class Irregularities {
  count = 0;
  readonly examples: Irregularity[] = [];
  private readonly seen = new Set<string>();

  add(kind: IrregularityKind, stored: string, message: string | null, previous: string | null, detail: string): void {
    // Only a row re-checked from several places (an anchor search, then a drop) can come twice;
    // the set stops growing at MAX_REMEMBERED, however many rows a tampered database holds.
    const id = `${kind}\n${stored}\n${message}`;
    if (this.seen.has(id)) return;
    if (this.seen.size < MAX_REMEMBERED) this.seen.add(id);
    this.count++;
    if (this.examples.length < MAX_IRREGULARITY_EXAMPLES)
      this.examples.push({ kind, stored_time: stored, signed_message: message, previous_signed_message: previous, detail });
  }
}

/** One device's statement over [from, to] (stored time, nanoseconds). */
export async function createStatement(
  source: StatementSource,
  fields: readonly string[],
  device: string,
  from: bigint,
  to: bigint,
): Promise<Statement> {
  return new StatementMaker(source, fields, device).make(from, to);
}

class StatementMaker {
  private readonly rechecker: Rechecker;
  private readonly irregular = new Irregularities();
  private readonly layout: RowLayout;
  private drops = 0;

  constructor(
    private readonly source: StatementSource,
    private readonly fields: readonly string[],
    private readonly device: string,
  ) {
    this.rechecker = new Rechecker(source.keys, source.crypto);
    this.layout = new RowLayout(rowSelect(source.measurement, fields, device, [], 'ASC').columns);
  }

  async make(from: bigint, to: bigint): Promise<Statement> {
    const fromText = formatStoredTime(from),
      toText = formatStoredTime(to);
    const none = () => new StatementError(`device "${this.device}" has no verified reading from ${fromText} to ${toText}`);
    if (!this.fields.includes('signed_message')) throw none();
    const start =
      (await this.lastReverified({ op: '<=', ns: from })) ?? (await this.firstReverified({ op: '>', ns: from }, { op: '<=', ns: to }));
    if (!start) throw none();
    const end = (await this.lastReverified({ op: '<=', ns: to }, { op: '>=', ns: start.ns })) ?? start;

    const pass = await this.orderPass(start, end);
    const pieces: { start: Anchor; end: Anchor; readings: number | undefined }[] = [];
    let first = start,
      firstIndex = 1;
    for (const b of pass.boundaries) {
      pieces.push({ start: first, end: b.last, readings: b.lastIndex - firstIndex + 1 });
      first = b.first;
      firstIndex = b.firstIndex;
    }
    pieces.push({ start: first, end: pass.end, readings: pass.endIndex - firstIndex + 1 });

    const segments: Segment[] = [];
    for (const piece of pieces) {
      const parts = await this.splitByKey(piece.start, piece.end);
      for (const [a, b] of parts) segments.push(this.segment(a, b, parts.length === 1 ? piece.readings! : await this.count(a.ns, b.ns)));
    }

    const statement: Statement = {
      format: STATEMENT_FORMAT,
      device: this.device,
      from: fromText,
      to: toText,
      ...derivedFields(fromText, toText, segments),
      segments,
      readings_checked: pass.readings,
      irregularities: { count: this.irregular.count, examples: this.irregular.examples },
      source: { database: this.source.target.db, measurement: this.source.measurement },
      created: formatStoredTime(BigInt(Date.now()) * 1_000_000n),
      generator: this.source.generator,
      notes: STATEMENT_NOTES,
    };
    const ordered = orderKeys(statement);
    const check = await checkStatement(ordered, this.source.statementCrypto, this.source.keys);
    if (check.problems.length > 0)
      throw new StatementError(`device "${this.device}": the readings do not make a consistent statement: ${check.problems.join('; ')}`);
    return ordered;
  }

  private segment(a: Anchor, b: Anchor, readings: number): Segment {
    const start = signedReading(a.time19, a.totalText, a.signature, a.stored);
    const end = signedReading(b.time19, b.totalText, b.signature, b.stored);
    const figures = segmentFigures(start, end);
    if ('problem' in figures) throw new StatementError(`device "${this.device}": ${figures.problem}`);
    return {
      public_key: a.key.key.hex,
      fingerprint: fingerprint(a.key.key.hex),
      start,
      end,
      consumption_kwh: figures.consumption_kwh,
      consumption_kwh_text: figures.consumption_kwh_text,
      phases_kwh_text: figures.phases_kwh_text,
      readings,
    };
  }

  /**
   * Re-checks one stored row: the processor's verdict is not enough, the signature must verify now,
   * the row must show what was signed (audit/recheck.ts), and the registry must hold a key valid at
   * the signed Time. Undefined (and an irregularity) otherwise.
   */
  private reverify(row: readonly unknown[]): Anchor | undefined {
    const stored = String(row[0]);
    const message = row[this.layout.signedMessage];
    const messageText = typeof message === 'string' ? message : null;
    const check = this.rechecker.check(row, this.layout);
    const parsed = parseMessage(message);
    const signature = this.signatureOf(row);
    const ns = parseStoredTime(stored);
    const failed = (why: string) => (this.irregular.add('not_reverified', stored, messageText, null, why), undefined);
    if (check.device !== this.device) return failed(`the row names device "${check.device}"`);
    if (!check.proven) return failed(check.disagreement?.detail ?? 'stored as verified, but the signature does not verify now');
    if (!parsed || signature === undefined || ns === undefined) return failed('signed_message is not "<time>,<total>"');
    const bytes = new TextEncoder().encode(messageText!);
    const sig = hexToBytes(signature);
    const key = keysValidAt(this.source.keys.devices.get(this.device) ?? [], parsed.time19).find((k) =>
      this.source.crypto.verify(sig, bytes, k.key),
    );
    if (!key) return failed(`no key of "${this.device}" valid at ${parsed.time19} verifies signed_message`);
    return { stored, ns, ...parsed, signature: signature.toLowerCase(), key };
  }

  /** The Signature field, or, in exact mode without expanded fields, the raw payload's. */
  private signatureOf(row: readonly unknown[]): string | undefined {
    const field = row[this.layout.signature];
    if (typeof field === 'string') return /^[0-9a-fA-F]{128}$/.test(field) ? field : undefined;
    const payload = row[this.layout.payload];
    if (typeof payload !== 'string') return undefined;
    try {
      const root = parseJson(payload);
      const sig = root.kind === 'object' ? root.entries.get(names.signature) : undefined;
      return sig?.kind === 'string' && /^[0-9a-fA-F]{128}$/.test(sig.value) ? sig.value : undefined;
    } catch (e) {
      if (e instanceof JsonError) return undefined;
      throw e;
    }
  }

  /**
   * The first row in `order` within `bounds` that re-verifies. The first query asks for one row
   * (`LIMIT 1`, as cheap as `last()`); only when that row fails the re-check are more read, in growing
   * pages (`LIMIT`/`OFFSET`, which neither skip nor repeat rows that share a timestamp).
   */
  private async firstOf(bounds: readonly Bound[], order: 'ASC' | 'DESC'): Promise<Anchor | undefined> {
    for (let offset = 0, limit = 1; ; offset += limit, limit = Math.min(limit * 10, MAX_ANCHOR_PAGE)) {
      const select = rowSelect(this.source.measurement, this.fields, this.device, bounds, order, { limit, offset });
      let rows = 0;
      for await (const page of queryPages(this.source.target, select, limit))
        for (const row of page.values) {
          rows++;
          const found = this.reverify(row);
          if (found) return found;
        }
      if (rows < limit) return undefined;
    }
  }

  private lastReverified(at: Bound, after?: Bound): Promise<Anchor | undefined> {
    return this.firstOf(after ? [at, after] : [at], 'DESC');
  }

  private firstReverified(after: Bound, before: Bound): Promise<Anchor | undefined> {
    return this.firstOf([after, before], 'ASC');
  }

  /** The row stored at `stored` whose signed_message is `message`, re-verified. */
  private async rowAt(stored: string, message: string): Promise<Anchor | undefined> {
    const ns = parseStoredTime(stored);
    if (ns === undefined) return undefined;
    const select = rowSelect(this.source.measurement, this.fields, this.device, [{ op: '=', ns }], 'ASC');
    for await (const page of queryPages(this.source.target, select, ANCHOR_PAGE))
      for (const row of page.values) if (row[this.layout.signedMessage] === message) return this.reverify(row);
    return undefined;
  }

  private async count(fromNs: bigint, toNs: bigint): Promise<number> {
    const rows = await queryRows(
      this.source.target,
      countStatement(this.source.measurement, this.device, [
        { op: '>=', ns: fromNs },
        { op: '<=', ns: toNs },
      ]),
    );
    const n = rows[0]?.[1];
    return typeof n === 'number' ? n : 0;
  }

  /**
   * The order pass: `signed_message` of every accepted row from `start` to `end`, streamed, each
   * compared with the one stored before it. Memory holds one page and the previous reading.
   */
  private async orderPass(start: Anchor, end: Anchor) {
    const boundaries: Boundary[] = [];
    const select = messageSelect(this.source.measurement, this.device, [
      { op: '>=', ns: start.ns },
      { op: '<=', ns: end.ns },
    ]);
    let index = 0;
    let prev: Seen | undefined;
    let lastRegular: Seen | undefined;
    let lastWasRegular = true;
    for await (const page of queryPages(this.source.target, select, this.source.pageSize)) {
      for (const row of page.values) {
        const stored = String(row[0]);
        const message = row[1];
        index++;
        const parsed = parseMessage(message);
        if (!parsed) {
          this.irregular.add(
            'unreadable',
            stored,
            typeof message === 'string' ? message : null,
            prev?.message ?? null,
            'signed_message is not "<time>,<total>"',
          );
          lastWasRegular = false;
          continue;
        }
        const seen: Seen = { stored, message: message as string, time19: parsed.time19, total: parsed.total, index };
        let regular = true;
        if (prev) {
          const forward = seen.time19 > prev.time19;
          if (!forward) {
            regular = false;
            this.irregular.add(
              'time_reversal',
              stored,
              seen.message,
              prev.message,
              `signed Time ${seen.time19} is not after ${prev.time19}, stored before it`,
            );
          }
          if (goesDown(prev.total, seen.total)) regular = (await this.drop(prev, seen, forward, boundaries)) && forward;
        }
        prev = seen;
        lastWasRegular = regular;
        if (regular) lastRegular = seen;
      }
    }
    if (index === 0) throw new StatementError(`device "${this.device}": its readings changed while the statement was made; try again`);
    // The last row read is the end anchor; if it broke the order, end at the last reading that did not.
    let endAnchor = end,
      endIndex = index;
    if (!lastWasRegular && lastRegular && lastRegular.stored !== end.stored) {
      const instead = await this.rowAt(lastRegular.stored, lastRegular.message);
      if (instead && instead.ns >= start.ns && (boundaries.length === 0 || instead.ns > boundaries.at(-1)!.first.ns)) {
        endAnchor = instead;
        endIndex = lastRegular.index;
      }
    }
    return { boundaries: boundaries.filter((b) => b.first.ns <= endAnchor.ns), end: endAnchor, endIndex, readings: index };
  }

  /**
   * A Total that went down from `prev` to `seen`: both rows are re-verified. Different keys, with time
   * moving on, are a hard reset (a boundary); the same key is an irregularity. True when `seen` may
   * count as regular.
   */
  private async drop(prev: Seen, seen: Seen, forward: boolean, boundaries: Boundary[]): Promise<boolean> {
    if (++this.drops > MAX_DROPS)
      throw new StatementError(
        `device "${this.device}": more than ${MAX_DROPS} verified readings go down; run meterproof audit on the database`,
      );
    const [before, after] = [await this.rowAt(prev.stored, prev.message), await this.rowAt(seen.stored, seen.message)];
    if (!after) return false;
    if (!before) return true; // the reading before was not genuine; this one is
    if (!sameKey(before.key, after.key)) {
      if (forward) boundaries.push({ last: before, lastIndex: prev.index, first: after, firstIndex: seen.index });
      return true;
    }
    this.irregular.add(
      'decrease',
      seen.stored,
      seen.message,
      prev.message,
      'the Total goes down under the same key (both readings verify): the processor would have called it a rollback',
    );
    return false;
  }

  /**
   * `[start, end]` cut where the signing key changes, so that each piece begins and ends under one key.
   * The change is found by bisection over stored time: each step is one time-bounded selector.
   */
  private async splitByKey(start: Anchor, end: Anchor): Promise<[Anchor, Anchor][]> {
    const out: [Anchor, Anchor][] = [];
    let first = start;
    while (!sameKey(first.key, end.key)) {
      let lo = first,
        hi = end;
      for (;;) {
        const mid = (lo.ns + hi.ns) / 2n;
        const r =
          (await this.lastReverified({ op: '<=', ns: mid }, { op: '>', ns: lo.ns })) ??
          (await this.firstReverified({ op: '>', ns: mid }, { op: '<', ns: hi.ns }));
        if (!r || r.ns <= lo.ns || r.ns >= hi.ns) break;
        if (sameKey(r.key, first.key)) lo = r;
        else hi = r;
      }
      out.push([first, lo]);
      first = hi;
    }
    out.push([first, end]);
    return out;
  }
}

/** The statement's members in reading order: figures first, then the proof, then where it came from. */
function orderKeys(s: Statement): Statement {
  return {
    format: s.format,
    device: s.device,
    from: s.from,
    to: s.to,
    consumption_kwh: s.consumption_kwh,
    consumption_kwh_text: s.consumption_kwh_text,
    phases_kwh_text: s.phases_kwh_text,
    segments: s.segments,
    gaps: s.gaps,
    readings_checked: s.readings_checked,
    irregularities: s.irregularities,
    source: s.source,
    created: s.created,
    generator: s.generator,
    notes: s.notes,
  };
}
