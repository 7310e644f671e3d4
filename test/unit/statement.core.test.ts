/**
 * core/statement: the exact decimal arithmetic, stored times, the schema subset validator, and the
 * statement check itself on statements signed here by emulated plugs (sim/plug.ts), genuine and edited.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import schema from '../../statement.schema.json';
import { fingerprint } from '../../cli/keys';
import { nodeStatementCrypto } from '../../cli/statement/node-crypto';
import { parseKeyFile } from '../../core/keyfile';
import { derivedFields, expectedGaps, segmentFigures, signedReading } from '../../core/statement/arithmetic';
import {
  addDecimal,
  compareDecimal,
  consumptionBetween,
  formatDecimal,
  goesDown,
  parseDecimal,
  parseTotalText,
  subtractDecimal,
} from '../../core/statement/decimal';
import { STATEMENT_FORMAT, STATEMENT_NOTES, type Segment, type Statement } from '../../core/statement/format';
import { schemaProblems, type JsonSchema } from '../../core/statement/schema-check';
import { formatStoredTime, parseStoredTime, secondsBetween } from '../../core/statement/time';
import { checkStatement, structureProblems } from '../../core/statement/verify';
import { Plug, type PlugReading } from '../../sim/plug';

const d = (t: string) => parseDecimal(t)!;
const f = (x: ReturnType<typeof parseDecimal>) => formatDecimal(x!);

describe('decimal arithmetic on signed Totals', () => {
  it('keeps the printed decimals and never goes through a float', () => {
    expect(f(addDecimal(d('1.1'), d('2.2')))).toBe('3.3');
    expect(0.1 + 0.2).not.toBe(0.3); // what it avoids
    expect(f(subtractDecimal(d('1.500'), d('1.000')))).toBe('0.500');
    expect(f(subtractDecimal(d('10'), d('0.25')))).toBe('9.75');
    expect(f(subtractDecimal(d('0.001'), d('0.004')))).toBe('-0.003');
    expect(f(subtractDecimal(d('123456789012345.678'), d('0.001')))).toBe('123456789012345.677');
    expect(f(d('-0.000'))).toBe('0.000');
    expect(f(d('007.50'))).toBe('7.50');
    expect(compareDecimal(d('2.0'), d('2.000'))).toBe(0);
    expect(compareDecimal(d('1.999'), d('2'))).toBe(-1);
  });

  it('reads only what the firmware prints', () => {
    for (const bad of ['', '1.', '.5', '+1', '1e3', '1 ', ' 1', '1,5', 'NaN', '0x10', '١'])
      expect(parseDecimal(bad), JSON.stringify(bad)).toBeUndefined();
    expect(parseTotalText('[1.500,2.000,3.250]')).toEqual({ values: [d('1.500'), d('2.000'), d('3.250')], asArray: true });
    expect(parseTotalText('1.500')).toEqual({ values: [d('1.500')], asArray: false });
    for (const bad of ['[]', '[1.5, 2.0]', '[1.5,]', '1.5]', '[1.5', '[[1.5]]']) expect(parseTotalText(bad), bad).toBeUndefined();
  });

  it('goes down per phase, or by the sums when the phases changed (as the processor judges a rollback)', () => {
    const t = (s: string) => parseTotalText(s)!;
    expect(goesDown(t('[1.000,2.000,3.000]'), t('[1.001,1.999,9.000]'))).toBe(true);
    expect(goesDown(t('[1.000,2.000,3.000]'), t('[1.000,2.000,3.000]'))).toBe(false);
    expect(goesDown(t('[1.000,2.000,3.000]'), t('6.000'))).toBe(false);
    expect(goesDown(t('[1.000,2.000,3.000]'), t('5.999'))).toBe(true);
    expect(goesDown(t('6.0'), t('[1.0,2.0]'))).toBe(true);
  });

  it('consumption: the difference of the sums, and per phase when both readings list the same phases', () => {
    const c = consumptionBetween(parseTotalText('[1.100,2.200,3.300]')!, parseTotalText('[2.100,2.250,4.300]')!);
    expect(f(c.total)).toBe('2.050');
    expect(c.phases!.map(formatDecimal)).toEqual(['1.000', '0.050', '1.000']);
    expect(consumptionBetween(parseTotalText('[1.0,2.0]')!, parseTotalText('4.5')!).phases).toBeUndefined();
  });

  it('agrees with BigInt arithmetic on arbitrary decimals (property)', () => {
    const text = fc
      .tuple(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.integer({ min: 0, max: 6 }))
      .map(([units, scale]) => formatDecimal({ units, scale }));
    fc.assert(
      fc.property(text, text, (a, b) => {
        const diff = subtractDecimal(d(a), d(b));
        expect(compareDecimal(addDecimal(diff, d(b)), d(a))).toBe(0);
        expect(f(diff)).toBe(f(d(f(diff))));
      }),
    );
  });
});

describe('stored times', () => {
  it('round-trips InfluxDB times to the nanosecond', () => {
    for (const t of ['2024-03-01T00:00:00Z', '2024-03-01T00:00:00.25Z', '2024-03-01T00:00:00.000000001Z', '1969-12-31T23:59:59.9Z'])
      expect(formatStoredTime(parseStoredTime(t)!)).toBe(t);
    expect(parseStoredTime('2024-03-01T01:00:00+01:00')).toBe(parseStoredTime('2024-03-01T00:00:00Z'));
    for (const bad of ['2024-02-30T00:00:00Z', '2024-03-01T24:00:00Z', '2024-03-01T00:00:00', '2024-03-01', '2024-03-01T00:00:00.Z'])
      expect(parseStoredTime(bad), bad).toBeUndefined();
    expect(secondsBetween('2024-03-01T00:29:50.25Z', '2024-03-01T00:31:00.25Z')).toBe(70);
  });
});

describe('the schema subset validator', () => {
  it('refuses keywords it does not check, so the schema cannot outgrow it', () => {
    expect(() => schemaProblems(1, { type: 'number', multipleOf: 2 })).toThrow(/"multipleOf" .* not supported/);
    expect(() => schemaProblems(1, { $ref: '#/$defs/missing' })).toThrow(/does not resolve/);
    expect(structureProblems({})).toContain('$: "format" is required');
  });

  it('checks types, required and extra members, patterns and references', () => {
    const s: JsonSchema = {
      type: 'object',
      required: ['a'],
      additionalProperties: false,
      properties: { a: { $ref: '#/$defs/hex' }, b: { type: ['integer', 'null'], minimum: 1 } },
      $defs: { hex: { type: 'string', pattern: '^[0-9a-f]+$' } },
    };
    expect(schemaProblems({ a: 'ff', b: null }, s)).toEqual([]);
    expect(schemaProblems({ a: 'xyz', b: 1.5, c: 1 }, s)).toEqual([
      '$.a: "xyz" does not match ^[0-9a-f]+$',
      '$.b: must be integer or null, not number',
      '$: "c" is not allowed',
    ]);
    expect(schemaProblems({ b: 0 }, s)).toEqual(['$: "a" is required', '$.b: must be at least 1']);
    expect(schemaProblems(JSON.parse('{"a":"ff","__proto__":1}'), s)).toEqual(['$: "__proto__" is not allowed']);
  });

  it('the published schema uses only what the validator checks', () => {
    expect(() => structureProblems(null)).not.toThrow();
    expect(Object.keys(schema.$defs)).toEqual(expect.arrayContaining(['reading', 'segment', 'gap', 'irregularity']));
  });
});

/** A statement over readings signed here: one segment per plug, stored `lagMs` after their signed times. */
function statementOf(parts: { plug: Plug; readings: [PlugReading, PlugReading]; readings_count?: number }[]): Statement {
  const storedOf = (r: PlugReading) => formatStoredTime(BigInt(Date.parse(`${r.time.slice(0, 19)}Z`) + 250) * 1_000_000n);
  const segments: Segment[] = parts.map(({ plug, readings: [a, b], readings_count }) => {
    const start = signedReading(a.time.slice(0, 19), a.totalText, a.signature, storedOf(a));
    const end = signedReading(b.time.slice(0, 19), b.totalText, b.signature, storedOf(b));
    const figures = segmentFigures(start, end);
    if ('problem' in figures) throw new Error(figures.problem);
    return {
      public_key: plug.publicKeyHex,
      fingerprint: fingerprint(plug.publicKeyHex),
      start,
      end,
      ...figures,
      readings: readings_count ?? 2,
    };
  });
  const from = '2024-03-01T00:00:00Z',
    to = '2024-03-02T00:00:00Z';
  return {
    format: STATEMENT_FORMAT,
    device: 'p',
    from,
    to,
    ...derivedFields(from, to, segments),
    segments,
    readings_checked: segments.reduce((n, s) => n + s.readings, 0),
    irregularities: { count: 0, examples: [] },
    source: { database: 'db', measurement: 'mqtt_consumer' },
    created: '2024-03-03T00:00:00Z',
    generator: 'test',
    notes: STATEMENT_NOTES,
  };
}

describe('checking a statement', () => {
  const crypto = nodeStatementCrypto();
  const at = (hh: number, mm = 0) => new Date(Date.UTC(2024, 2, 1, hh, mm));
  const plugA = new Plug({ name: 'p', phases: 3 }, 'unit-a');
  const a1 = plugA.read(at(1));
  plugA.consume(123_456);
  const a2 = plugA.read(at(5));
  const plugB = new Plug({ name: 'p', phases: 3, startMicroKwh: 10 }, 'unit-b');
  const b1 = plugB.read(at(6));
  plugB.consume(5_000);
  const b2 = plugB.read(at(20));
  const genuine = statementOf([
    { plug: plugA, readings: [a1, a2] },
    { plug: plugB, readings: [b1, b2] },
  ]);
  const registry = parseKeyFile(
    JSON.stringify({
      p: [
        { key: plugA.publicKeyHex, not_after: '2024-03-01T05:30:00' },
        { key: plugB.publicKeyHex, not_before: '2024-03-01T05:30:00' },
      ],
    }),
  );
  const problemsOf = async (s: unknown, keys = registry) => (await checkStatement(s, crypto, keys)).problems;
  const edit = (change: (s: any) => void): unknown => {
    const copy = structuredClone(genuine) as any;
    change(copy);
    return copy;
  };

  it('a genuine statement holds: figures per phase and in sum, gaps between and after the segments', async () => {
    expect(structureProblems(genuine)).toEqual([]);
    expect(await problemsOf(genuine)).toEqual([]);
    expect(await problemsOf(genuine, undefined)).toEqual([]);
    const check = await checkStatement(genuine, crypto);
    expect(check.signatures.map((s) => s.ok)).toEqual([true, true, true, true]);
    expect(check.keysFromRegistry).toBe(false);
    // Each phase counted 1.23456 kWh (from its own start): the firmware rounds each printed Total.
    expect(genuine.segments[0]!.phases_kwh_text).toEqual(['1.235', '1.235', '1.234']);
    expect(genuine.gaps.map((g) => [g.kind, g.seconds])).toEqual([
      ['before_first_reading', 3600.25],
      ['between_segments', 3600],
      ['after_last_reading', 14399.75],
    ]);
  });

  it('refuses edited readings and figures, with the reason', async () => {
    expect(await problemsOf(edit((s) => (s.segments[1].end.signature = s.segments[0].end.signature)))).toEqual([
      expect.stringMatching(/^segment 2 end reading: the signature does not verify/),
    ]);
    expect(await problemsOf(edit((s) => (s.segments[0].consumption_kwh_text = '3.705')))).toEqual([
      expect.stringMatching(/^segment 1: consumption_kwh_text 3.705 is not .* = 3.704$/),
      'segment 1: consumption_kwh 3.704 is not consumption_kwh_text 3.705',
      expect.stringMatching(/^consumption_kwh_text .* is not the sum of the segments/),
    ]);
    expect(await problemsOf(edit((s) => (s.consumption_kwh += 0.001)))).toEqual([expect.stringMatching(/^consumption_kwh .* is not/)]);
    expect(await problemsOf(edit((s) => (s.segments[0].start.signed_message += ' ')))).toEqual([
      expect.stringMatching(/^segment 1 start reading: signed_message .* is not signed_time,signed_total/),
    ]);
    expect(await problemsOf(edit((s) => (s.segments[0].fingerprint = '00:00:00:00:00:00:00:00')))).toEqual([
      'segment 1: fingerprint 00:00:00:00:00:00:00:00 is not that of its public key',
    ]);
    expect(await problemsOf(edit((s) => s.gaps.pop()))).toEqual([expect.stringMatching(/^the gaps are not exactly/)]);
    expect(await problemsOf(edit((s) => (s.gaps[1].seconds = 60)))).toEqual([expect.stringMatching(/^the gaps are not exactly/)]);
    expect(await problemsOf(edit((s) => (s.readings_checked = 3)))).toEqual([expect.stringMatching(/^readings_checked 3 is less/)]);
  });

  it('refuses segments out of order, overlapping, or one key going down between its segments', async () => {
    const swapped = edit((s) => s.segments.reverse());
    expect(await problemsOf(swapped, undefined)).toContainEqual(expect.stringMatching(/^segments 1 and 2 overlap or are out of order/));
    // The same key twice, later readings first: the counter went down between them.
    const a3 = (() => {
      const p = new Plug({ name: 'p', phases: 3 }, 'unit-a');
      p.consume(200_000);
      return p.read(at(22));
    })();
    const twice = statementOf([
      { plug: plugA, readings: [a1, a2] },
      { plug: plugB, readings: [b1, b2] },
      { plug: plugA, readings: [a1, a3] },
    ]);
    const problems = await problemsOf(twice, undefined);
    expect(problems).toContainEqual(expect.stringMatching(/^segments 2 and 3 overlap or are out of order/));
    expect(problems).toContainEqual(expect.stringMatching(/goes down from .* between its segments/));
    const backwards = statementOf([{ plug: plugA, readings: [a2, a1] }]);
    expect(await problemsOf(backwards, undefined)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^segment 1: its end \(signed .*\) is not after its start/),
        expect.stringMatching(/^segment 1: the Total goes down/),
      ]),
    );
  });

  it('with a registry: each key registered for the device and valid at its readings', async () => {
    const late = parseKeyFile(JSON.stringify({ p: [plugA.publicKeyHex, { key: plugB.publicKeyHex, not_before: '2024-03-01T07:00:00' }] }));
    expect(await problemsOf(genuine, late)).toEqual([
      'segment 2 start reading: key ' +
        fingerprint(plugB.publicKeyHex) +
        ' is not valid at 2024-03-01T06:00:00 (revoked, or outside not_before/not_after)',
    ]);
    const revoked = parseKeyFile(JSON.stringify({ p: [{ key: plugA.publicKeyHex, revoked: true }, plugB.publicKeyHex] }));
    expect(await problemsOf(genuine, revoked)).toHaveLength(2);
    expect(await problemsOf(genuine, parseKeyFile(JSON.stringify({ q: plugA.publicKeyHex })))).toContain(
      'segment 1: device "p" is not in the key registry',
    );
  });

  it('refuses a weak key before any signature is checked under it', async () => {
    // The identity point: under it, R = identity and S = 0 "verify" any message with OpenSSL.
    const identity = `01${'00'.repeat(31)}`;
    const forged = edit((s) => {
      for (const seg of s.segments) {
        seg.public_key = identity;
        seg.start.signature = seg.end.signature = `01${'00'.repeat(63)}`;
      }
    });
    const check = await checkStatement(forged, crypto);
    expect(check.problems).toContainEqual(expect.stringMatching(/^segment 1: public key has small order/));
    expect(check.signatures.every((s) => !s.ok)).toBe(true);
  });

  it('gaps: none when a reading sits on each edge', () => {
    const r = (stored: string) => signedReading('2024-03-01T00:00:00', '1.0', 'a'.repeat(128), stored);
    expect(
      expectedGaps('2024-03-01T00:00:00Z', '2024-03-02T00:00:00Z', [{ start: r('2024-03-01T00:00:00Z'), end: r('2024-03-02T00:00:00Z') }]),
    ).toEqual([]);
  });
});
