// InfluxQL quoting (core/influxql) and the data source's statements: no device name, variable value
// or ad-hoc filter may change a query's structure.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  InfluxQLError,
  anchoredRegexLiteral,
  formatRegexVariable,
  integerLiteral,
  quoteIdent,
  quoteString,
  regexLiteral,
} from '../../core/influxql';
import {
  adHocCondition,
  eventsStatement,
  signedTotalsStatement,
  tagValuesStatement,
  trustStatements,
  trustWindowStatement,
  phaseStatements,
  hourlyCountStatements,
  type Scope,
} from '../../grafana-plugin/datasource/statements';
import { re2ToJs, scan, structure } from '../harness/fixtures/grafana/influxqlScanner';

const NASTY = [
  "it's",
  'back\\slash',
  'trailing\\',
  "x'; DROP DATABASE telegraf; --",
  'x"; DROP MEASUREMENT "mqtt_consumer',
  'new\nline',
  'cr\rreturn\ttab',
  "\\' OR '1'='1",
  "\\\\\\'",
  're.g*x+(1)|[2]{3}^$?',
  'sla/sh',
  '/ OR 1=1 /',
  '\\/',
  '$device ${device:singlequote} [[device]]',
  'ünï©ødé 🔌',
  '\u0000nul',
  ' ',
];

const scope = (over: Partial<Scope> = {}): Scope => ({
  measurement: 'mqtt_consumer',
  totalField: 'ENERGY_Total',
  fromMs: 1_700_000_000_000,
  toMs: 1_700_000_360_000,
  filters: [],
  ...over,
});

describe('quoteString and quoteIdent', () => {
  it.each(NASTY)('round-trips %j as one literal', (v) => {
    expect(scan(`SELECT * FROM m WHERE "device" = ${quoteString(v)}`)).toEqual(
      scan(`SELECT * FROM m WHERE "device" = 'x'`).map((t) => (t.kind === 'string' ? { ...t, value: v } : t)),
    );
    const [ident] = scan(quoteIdent(v));
    expect(ident).toEqual({ kind: 'ident', value: v });
  });

  it('escapes the backslash before the quote', () => {
    expect(quoteString("a\\'b")).toBe("'a\\\\\\'b'");
    expect(quoteString('end\\')).toBe("'end\\\\'");
    expect(quoteIdent('a"b\\')).toBe('"a\\"b\\\\"');
    expect(quoteString('two\nlines')).toBe("'two\\nlines'");
  });

  it('holds for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (v) => {
        expect(scan(quoteString(v))).toEqual([{ kind: 'string', value: v }]);
        expect(scan(quoteIdent(v))).toEqual([{ kind: 'ident', value: v }]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('formatRegexVariable', () => {
  const regexOf = (q: string) => scan(q).find((t) => t.kind === 'regex')!.value;

  it.each(NASTY)('matches exactly %j and nothing else', (v) => {
    const re = re2ToJs(regexOf(`SELECT * FROM m WHERE "device" =~ ${anchoredRegexLiteral(formatRegexVariable(v))}`));
    expect(re.test(v)).toBe(true);
    expect(re.test(`${v}x`)).toBe(false);
    expect(re.test(`x${v}`)).toBe(false);
  });

  it('turns several values into exact alternatives, never wider', () => {
    const values = ['plug-1', 'a.b', 'c|d', "e'f"];
    const re = re2ToJs(regexOf(`SELECT * FROM m WHERE "device" =~ ${anchoredRegexLiteral(formatRegexVariable(values))}`));
    for (const v of values) expect(re.test(v)).toBe(true);
    for (const v of ['plug-2', 'aXb', 'c', 'd', 'c|d|', '']) expect(re.test(v)).toBe(false);
    const none = re2ToJs(regexOf(`SELECT * FROM m WHERE "device" =~ ${anchoredRegexLiteral(formatRegexVariable([]))}`));
    expect(none.test('')).toBe(false);
    expect(none.test('plug-1')).toBe(false);
  });

  it('holds for any list of values', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { minLength: 1, maxLength: 4 }), (values) => {
        const q = `SELECT * FROM m WHERE "device" =~ ${anchoredRegexLiteral(formatRegexVariable(values))} AND "x" = 'y'`;
        expect(structure(q)).toEqual(structure(`SELECT * FROM m WHERE "device" =~ /a/ AND "x" = 'y'`));
        const re = re2ToJs(regexOf(q));
        for (const v of values) expect(re.test(v)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('regexLiteral (user regexes from ad-hoc filters)', () => {
  it.each([
    ['a/b', 'a/b'],
    ['a\\/b', 'a/b'],
    ['ends\\\\', 'ends\\'],
    ['\\d+-x', '7-x'],
    ['line\nbreak', 'line\nbreak'],
  ])('keeps %j one literal that still matches', (pattern, sample) => {
    const tokens = scan(`SELECT * FROM m WHERE "k" =~ ${regexLiteral(pattern)} AND "j" = 'v'`);
    expect(tokens.filter((t) => t.kind === 'regex')).toHaveLength(1);
    expect(tokens.slice(-3).map((t) => t.kind)).toEqual(['ident', 'op', 'string']);
    expect(re2ToJs(tokens.find((t) => t.kind === 'regex')!.value.replace(/\\n/g, '\n')).test(sample)).toBe(true);
  });

  it('refuses a regex that would escape the closing slash', () => {
    expect(() => regexLiteral('oops\\')).toThrow(InfluxQLError);
    expect(() => regexLiteral('a\\\nb')).toThrow(InfluxQLError);
  });
});

describe('statements', () => {
  const benign = scope({ device: formatRegexVariable('plug-1'), filters: [{ key: 'host', operator: '=', value: 'h' }] });

  it.each(NASTY)('keep their structure when a device, variable or filter is %j', (v) => {
    const evil = scope({
      measurement: v || 'm',
      totalField: v || 'T',
      device: formatRegexVariable([v, 'plug-2']),
      filters: [{ key: v || 'k', operator: '=', value: v }],
    });
    const base = scope({ device: formatRegexVariable(['plug-1', 'plug-2']), filters: benign.filters });
    trustStatements(evil).forEach((q, i) => expect(structure(q)).toEqual(structure(trustStatements(base)[i]!)));
    expect(structure(signedTotalsStatement(evil, 60_000))).toEqual(structure(signedTotalsStatement(base, 60_000)));
    expect(structure(eventsStatement(evil, 100))).toEqual(structure(eventsStatement(base, 100)));
    expect(structure(tagValuesStatement(v || 'm', v || 'k', formatRegexVariable(v)))).toEqual(structure(tagValuesStatement('m', 'k', 'x')));
  });

  it('ask InfluxDB for what each query type needs', () => {
    const [last, failing, counts, failingCounts] = trustStatements(benign);
    const phases = phaseStatements(benign);
    const where = `WHERE time >= 1700000000000ms AND time <= 1700000360000ms AND "device"::tag =~ /^(?:plug-1)$/ AND "host"::tag = 'h'`;
    const whereFailing = where.replace(' AND "device"', ` AND "verified"::tag = 'false' AND "device"`);
    const byVerdict = 'GROUP BY "device"::tag, "verified"::tag, "verify_status"::tag';
    expect(last).toBe(
      `SELECT last("Time") AS "Time", /^ENERGY_Total(?:_[0-9]+)?$/, "signed_message", "Signature" FROM "mqtt_consumer" ${where} ${byVerdict}`,
    );
    expect(failing).toBe(`SELECT last("ENERGY_Total") AS "ENERGY_Total" FROM "mqtt_consumer" ${whereFailing} ${byVerdict}`);
    const whereVerified = where.replace(' AND "device"', ` AND "verified"::tag = 'true' AND "device"`);
    const whereOthers = where.replace(' AND "device"', ` AND "verified"::tag != 'true' AND "device"`);
    expect(counts).toBe(`SELECT count("ENERGY_Total") AS "count_ENERGY_Total" FROM "mqtt_consumer" ${whereVerified} ${byVerdict}`);
    expect(failingCounts).toBe(
      `SELECT count("Time") AS "count_Time", count(/^ENERGY_Total(?:_[0-9]+)?$/) FROM "mqtt_consumer" ${whereOthers} ${byVerdict}`,
    );
    expect(phases.last).toBe(`SELECT last("ENERGY_Total_0") AS "ENERGY_Total_0" FROM "mqtt_consumer" ${whereVerified} ${byVerdict}`);
    expect(phases.count).toBe(
      `SELECT count("ENERGY_Total_0") AS "count_ENERGY_Total_0" FROM "mqtt_consumer" ${whereVerified} ${byVerdict}`,
    );
    // The window (trust.ts): raw rows with their device and verdict tags, from its start to the range's end.
    expect(trustWindowStatement(benign, 1700000300000)).toBe(
      `SELECT "device"::tag, "verified"::tag, "verify_status"::tag, "Time", /^ENERGY_Total(?:_[0-9]+)?$/, "signed_message", "Signature" ` +
        `FROM "mqtt_consumer" ${where.replace('1700000000000ms', '1700000300000ms')}`,
    );
    // No statement reads every field (COUNT(*)) or sorts (ORDER BY … LIMIT): InfluxDB answers selectors per series.
    for (const q of trustStatements(benign)) expect(q).not.toMatch(/COUNT\(\*\)|ORDER BY|LIMIT/i);
    expect(signedTotalsStatement(benign, 90_500)).toContain(`SELECT last(/^ENERGY_Total(?:_[0-9]+)?$/) FROM "mqtt_consumer" WHERE`);
    expect(signedTotalsStatement(benign, 90_500)).toContain('GROUP BY time(91s), "device"::tag fill(none)');
    expect(eventsStatement(benign, 50)).toMatch(/^SELECT "device"::tag, "verify_status"::tag, "topic"::tag, "Time", /);
    expect(eventsStatement(benign, 50)).toMatch(/"verified"::tag = 'false' .*ORDER BY time DESC LIMIT 50$/);
    expect(tagValuesStatement('mqtt_consumer', 'device')).toBe('SHOW TAG VALUES FROM "mqtt_consumer" WITH KEY = "device"');
    expect(tagValuesStatement('mqtt_consumer', 'device', 'a')).toBe(
      'SHOW TAG VALUES FROM "mqtt_consumer" WITH KEY = "device" WHERE "device"::tag =~ /^(?:a)$/',
    );
  });

  it('count verified rows over whole hours from the hourly counts, and raw rows around them, each once', () => {
    const long = { ...benign, fromMs: 1699740000123 }; // 72 hours and a bit, starting mid-hour
    const h = hourlyCountStatements(long, 'meterproof_readings_1h');
    expect([h.startMs, h.endMs]).toEqual([1699743600000, 1699999200000]); // the first and the last hour boundary
    const scoped = `"verified"::tag = 'true' AND "device"::tag =~ /^(?:plug-1)$/ AND "host"::tag = 'h'`;
    const byVerdict = 'GROUP BY "device"::tag, "verified"::tag, "verify_status"::tag';
    expect(h.last).toEqual(
      ['"count_ENERGY_Total"', '"count_ENERGY_Total_0"'].map(
        (c) => `SELECT last(${c}) FROM "meterproof_readings_1h" WHERE time >= 1699743600000ms AND time < 1699999200000ms AND ${scoped}`,
      ),
    );
    const raw =
      'SELECT count("ENERGY_Total") AS "count_ENERGY_Total", count("ENERGY_Total_0") AS "count_ENERGY_Total_0" FROM "mqtt_consumer"';
    // Written up to 1699995600000 (the hour before the last): the hours before it summed, the rest raw.
    expect(h.counts(1699995600000)).toEqual([
      'SELECT sum("count_ENERGY_Total") AS "count_ENERGY_Total", sum("count_ENERGY_Total_0") AS "count_ENERGY_Total_0" ' +
        `FROM "meterproof_readings_1h" WHERE time >= 1699743600000ms AND time < 1699995600000ms AND ${scoped} ${byVerdict}`,
      `${raw} WHERE time >= 1699740000123ms AND time < 1699743600000ms AND ${scoped} ${byVerdict}`,
      `${raw} WHERE time >= 1699995600000ms AND time <= 1700000360000ms AND ${scoped} ${byVerdict}`,
    ]);
  });

  it('name every tag as "tag"::tag, so that no field of the same name is read instead', () => {
    const TAGS = new Set(['verified', 'verify_status', 'device', 'topic', 'host']);
    const filters = ['=', '!=', '=~', '!~', '=|', '!=|'].flatMap((operator) =>
      ['host', 'device', 'verified'].map((key) => ({ key, operator, value: 'x', values: ['x', 'y'] })),
    );
    const scopes = [scope(), benign, scope({ device: formatRegexVariable(['a', 'b']), filters })];
    const statements = [
      ...scopes.flatMap((s) => [...trustStatements(s), signedTotalsStatement(s, 60_000), eventsStatement(s, 10)]),
      ...scopes.flatMap((s) => [...hourlyCountStatements(s, 'h').last, ...hourlyCountStatements(s, 'h').counts(s.toMs)]),
      tagValuesStatement('mqtt_consumer', 'device'),
      tagValuesStatement('mqtt_consumer', 'device', formatRegexVariable(['a'])),
      tagValuesStatement('mqtt_consumer', 'verified', formatRegexVariable(['a'])),
    ];
    let refs = 0;
    for (const q of statements) {
      const t = scan(q);
      t.forEach((tok, i) => {
        if (tok.kind !== 'ident' || !TAGS.has(tok.value)) return;
        // `SHOW TAG VALUES … WITH KEY = "device"` names a tag key by definition.
        if (t[i - 2]?.value === 'KEY' && t[i - 1]?.value === '=') return;
        refs++;
        expect([t[i + 1]?.value, t[i + 2]?.value], `${tok.value} in ${q}`).toEqual(['::', 'TAG']);
      });
    }
    expect(refs).toBeGreaterThan(100);
  });

  it('write every ad-hoc operator safely and refuse the others', () => {
    expect(adHocCondition({ key: 'host', operator: '!=', value: "a'b" })).toBe(`"host"::tag != 'a\\'b'`);
    expect(adHocCondition({ key: 'host', operator: '=~', value: 'web/.*' })).toBe('"host"::tag =~ /web\\/.*/');
    expect(adHocCondition({ key: 'host', operator: '=|', value: '', values: ['a', 'b.c'] })).toBe('"host"::tag =~ /^(?:(?:a|b\\x{2e}c))$/');
    expect(adHocCondition({ key: 'host', operator: '!=|', value: '', values: ['a'] })).toBe('"host"::tag !~ /^(?:a)$/');
    expect(() => adHocCondition({ key: 'host', operator: '<', value: '1' })).toThrow(InfluxQLError);
    expect(() => integerLiteral(1.5)).toThrow(InfluxQLError);
    expect(() => eventsStatement(benign, Number.NaN)).toThrow(InfluxQLError);
  });
});
