/**
 * The arithmetic of proof (docs/statements.md): a segment's energy is the difference of its two signed
 * Totals, the statement's is the sum of its segments', and the gaps are exactly the stretches of the
 * period no segment covers. `meterproof statement create` computes with these functions and
 * `statement verify` (and the HTML page) recompute with the same ones. Browser-safe.
 */
import { signedMessage } from '../firmware';
import {
  addDecimal,
  consumptionBetween,
  decimalNumber,
  formatDecimal,
  parseDecimal,
  parseTotalText,
  ZERO,
  type Decimal,
  type SignedTotal,
} from './decimal';
import type { Gap, Segment, SignedReading, Statement } from './format';
import { parseStoredTime, secondsBetween } from './time';

export function signedReading(time19: string, totalText: string, signature: string, storedTime: string): SignedReading {
  return {
    signed_time: time19,
    signed_total: totalText,
    signed_message: signedMessage(time19, totalText),
    signature: signature.toLowerCase(),
    stored_time: storedTime,
  };
}

type Figures = Pick<Segment, 'consumption_kwh_text' | 'consumption_kwh' | 'phases_kwh_text'>;

/** A segment's figures from its two readings, or why there are none (an unreadable Total). */
export function segmentFigures(start: SignedReading, end: SignedReading): Figures | { problem: string } {
  const a = parseTotalText(start.signed_total),
    b = parseTotalText(end.signed_total);
  if (!a || !b) return { problem: `Total "${(a ? end : start).signed_total}" is not a Total the firmware prints` };
  const { total, phases } = consumptionBetween(a, b);
  return {
    consumption_kwh_text: formatDecimal(total),
    consumption_kwh: decimalNumber(total),
    phases_kwh_text: phases ? phases.map(formatDecimal) : null,
  };
}

export const totalOfReading = (r: SignedReading): SignedTotal | undefined => parseTotalText(r.signed_total);

/** The statement's figures: the sum of the segments', per phase too when every segment has the same phases. */
export function statementFigures(segments: readonly Pick<Segment, 'consumption_kwh_text' | 'phases_kwh_text'>[]): Figures {
  let total: Decimal = ZERO;
  let phases: Decimal[] | undefined;
  let perPhase = segments.length > 0;
  for (const s of segments) {
    total = addDecimal(total, parseDecimal(s.consumption_kwh_text) ?? ZERO);
    const p = s.phases_kwh_text?.map((t) => parseDecimal(t) ?? ZERO);
    if (!p || (phases && phases.length !== p.length)) perPhase = false;
    else phases = phases ? phases.map((v, i) => addDecimal(v, p[i]!)) : p;
  }
  return {
    consumption_kwh_text: formatDecimal(total),
    consumption_kwh: decimalNumber(total),
    phases_kwh_text: perPhase && phases ? phases.map(formatDecimal) : null,
  };
}

const before = (a: string, b: string): boolean => {
  const x = parseStoredTime(a),
    y = parseStoredTime(b);
  return x !== undefined && y !== undefined && x < y;
};

/**
 * The gaps of a period covered by `segments` (in stored order): from the period's start to the first
 * reading when none was stored at or before it, between each two segments, and from the last reading
 * to the period's end.
 */
export function expectedGaps(from: string, to: string, segments: readonly Pick<Segment, 'start' | 'end'>[]): Gap[] {
  const gaps: Gap[] = [];
  const gap = (kind: Gap['kind'], a: string, b: string, aSigned: string | null, bSigned: string | null): Gap => ({
    kind,
    from: a,
    to: b,
    seconds: Math.max(0, secondsBetween(a, b)),
    from_signed_time: aSigned,
    to_signed_time: bSigned,
  });
  const first = segments[0],
    last = segments[segments.length - 1];
  if (!first || !last) return gaps;
  if (before(from, first.start.stored_time))
    gaps.push(gap('before_first_reading', from, first.start.stored_time, null, first.start.signed_time));
  for (let i = 1; i < segments.length; i++) {
    const a = segments[i - 1]!.end,
      b = segments[i]!.start;
    gaps.push(gap('between_segments', a.stored_time, b.stored_time, a.signed_time, b.signed_time));
  }
  if (before(last.end.stored_time, to)) gaps.push(gap('after_last_reading', last.end.stored_time, to, last.end.signed_time, null));
  return gaps;
}

/** The statement's figures and gaps for its segments, as `create` writes them and `verify` expects them. */
export function derivedFields(
  from: string,
  to: string,
  segments: readonly Segment[],
): Pick<Statement, 'consumption_kwh_text' | 'consumption_kwh' | 'phases_kwh_text' | 'gaps'> {
  return { ...statementFigures(segments), gaps: expectedGaps(from, to, segments) };
}
