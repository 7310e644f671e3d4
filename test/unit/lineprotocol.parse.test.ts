import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeKeyOrTagValue,
  decodeLine,
  decodeMeasurement,
  decodeStringField,
  parseBoolSpan,
  parseFloatSpan,
  parseIntSpan,
  type DecodedMetric,
} from '../../core/lineprotocol/decode';
import {
  BLANK_OR_COMMENT,
  FIELD_BOOL,
  FIELD_FLOAT,
  FIELD_INT,
  FIELD_STRING,
  FIELD_UINT,
  isCommentOrBlank,
  LineLayout,
  parseLine,
  spanEquals,
} from '../../core/lineprotocol/parse';

/** Lines are given as latin1 text so that tests can hold arbitrary bytes ('\xff'). */
const bytes = (line: string) => Buffer.from(line, 'latin1');
const utf8 = (line: string) => Buffer.from(line, 'utf8');

function parse(line: string | Buffer): { error: string | null; l: LineLayout; b: Buffer } {
  const b = typeof line === 'string' ? bytes(line) : line;
  const l = new LineLayout();
  return { error: parseLine(b, 0, b.length, l), l, b };
}

function decode(line: string | Buffer): DecodedMetric {
  const b = typeof line === 'string' ? bytes(line) : line;
  const d = decodeLine(b, 0, b.length);
  if ('error' in d) throw new Error(`unexpected error for ${JSON.stringify(b.toString('latin1'))}: ${d.error}`);
  return d;
}

function errorOf(line: string | Buffer): string | null {
  return parse(line).error;
}

/** The value of field `f` in a one-field line. */
const value = (v: string) => decode(`m f=${v}`).fields[0]![1];

describe('parseLine layout', () => {
  it('records the spans of a typical line', () => {
    const { error, l, b } = parse('cpu,host=a,region=eu value=1.5,n=-2i,u=3u,b=true,s="x\\"y" 1700000000000000000');
    expect(error).toBeNull();
    const text = (s: number, e: number) => b.toString('latin1', s, e);
    expect(text(l.measurementStart, l.measurementEnd)).toBe('cpu');
    expect(l.tagCount).toBe(2);
    expect([0, 1].map((t) => [text(l.tagKeyStart[t]!, l.tagKeyEnd[t]!), text(l.tagValueStart[t]!, l.tagValueEnd[t]!)])).toEqual([
      ['host', 'a'],
      ['region', 'eu'],
    ]);
    expect(text(0, l.tagSetEnd)).toBe('cpu,host=a,region=eu');
    expect(l.fieldCount).toBe(5);
    const fields = [0, 1, 2, 3, 4].map((f) => [
      text(l.fieldKeyStart[f]!, l.fieldKeyEnd[f]!),
      text(l.fieldValueStart[f]!, l.fieldValueEnd[f]!),
      l.fieldType[f],
    ]);
    expect(fields).toEqual([
      ['value', '1.5', FIELD_FLOAT],
      ['n', '-2', FIELD_INT],
      ['u', '3', FIELD_UINT],
      ['b', 'true', FIELD_BOOL],
      ['s', 'x\\"y', FIELD_STRING],
    ]);
    expect(text(l.tagSetEnd, l.fieldSetEnd)).toBe(' value=1.5,n=-2i,u=3u,b=true,s="x\\"y"');
    expect(text(l.timestampStart, l.timestampEnd)).toBe('1700000000000000000');
  });

  it('puts tagSetEnd at the measurement end without tags, and marks a missing timestamp', () => {
    const { error, l, b } = parse('  m   f=1  ');
    expect(error).toBeNull();
    expect(l.measurementStart).toBe(2);
    expect(l.tagSetEnd).toBe(l.measurementEnd);
    expect(l.measurementEnd).toBe(3);
    expect(b.toString('latin1', l.fieldSetEnd)).toBe('  ');
    expect([l.timestampStart, l.timestampEnd]).toEqual([-1, -1]);
  });

  it('resets between lines and grows for many tags and fields', () => {
    const l = new LineLayout();
    const tags = Array.from({ length: 1000 }, (_, i) => `,t${String(i).padStart(4, '0')}=v${i}`).join('');
    const fields = Array.from({ length: 1000 }, (_, i) => `f${i}=${i}i`).join(',');
    const big = bytes(`m${tags} ${fields} 1`);
    expect(parseLine(big, 0, big.length, l)).toBeNull();
    expect([l.tagCount, l.fieldCount]).toEqual([1000, 1000]);
    expect(big.toString('latin1', l.tagValueStart[999]!, l.tagValueEnd[999]!)).toBe('v999');
    expect(big.toString('latin1', l.fieldValueStart[999]!, l.fieldValueEnd[999]!)).toBe('999');
    const small = bytes('m,a=b f=1');
    expect(parseLine(small, 0, small.length, l)).toBeNull();
    expect([l.tagCount, l.fieldCount, l.timestampStart]).toEqual([1, 1, -1]);
  });

  it('parses a span inside a larger buffer without reading past its end', () => {
    const b = bytes('xx m,t=v f=1\nm,t=v,u');
    expect(parseLine(b, 3, 12, new LineLayout())).toBeNull();
    expect(parseLine(b, 3, 8, new LineLayout())).toMatch(/expected field key/); // "m,t=v" then the '\n' beyond the end
  });

  it('matches names with spanEquals without allocating', () => {
    const b = bytes('m Signature="ab"');
    const { l } = parse(b);
    expect(spanEquals(b, l.fieldKeyStart[0]!, l.fieldKeyEnd[0]!, utf8('Signature'))).toBe(true);
    expect(spanEquals(b, l.fieldKeyStart[0]!, l.fieldKeyEnd[0]!, utf8('Signatur'))).toBe(false);
    expect(spanEquals(b, l.fieldKeyStart[0]!, l.fieldKeyEnd[0]!, utf8('signature'))).toBe(false);
  });
});

describe('blank lines and comments', () => {
  it('reports them with isCommentOrBlank and the BLANK_OR_COMMENT result', () => {
    for (const line of ['', '   ', '\r', '  \r', '# hi', '   #', '# "quoted" \xe9\r']) {
      expect(isCommentOrBlank(bytes(line), 0, line.length), JSON.stringify(line)).toBe(true);
      expect(errorOf(line)).toBe(BLANK_OR_COMMENT);
    }
  });

  it('rejects comments with control characters and a lone CR, as the reference does', () => {
    for (const line of ['# a\tb', '#\rx', '\rm f=1', '\tm f=1']) {
      expect(isCommentOrBlank(bytes(line), 0, line.length)).toBe(false);
      expect(errorOf(line)).toEqual(expect.any(String));
      expect(errorOf(line)).not.toBe(BLANK_OR_COMMENT);
    }
  });
});

describe('escaping', () => {
  it('unescapes `\\,` `\\=` `\\ ` in tag keys, tag values and field keys', () => {
    expect(decode('m,ta\\ g\\,k\\=y=v\\ a\\,l\\=ue f\\ i\\,e\\=ld=1')).toMatchObject({
      tags: [['ta g,k=y', 'v a,l=ue']],
      fields: [['f i,e=ld', { float: 1 }]],
    });
  });

  it('keeps `\\=` in a measurement, where only `\\,` and `\\ ` are escapes', () => {
    const d = decode('m\\ e\\,a\\=s f=1');
    expect(d.name).toBe('m e,a\\=s');
    const { l, b } = parse('m\\ e\\,a\\=s f=1');
    expect(decodeMeasurement(b, l.measurementStart, l.measurementEnd)).toBe('m e,a\\=s');
    expect(decodeKeyOrTagValue(b, l.measurementStart, l.measurementEnd)).toBe('m e,a=s'); // why decodeMeasurement exists
  });

  it('treats other backslashes as literal, and checks each backslash for an escape (`\\\\ ` is `\\` + escaped space)', () => {
    expect(decode('m,k=a\\\\b,q=x\\y f=1').tags).toEqual([
      ['k', 'a\\\\b'],
      ['q', 'x\\y'],
    ]);
    expect(decode('m,k=a\\\\\\ b f=1').tags).toEqual([['k', 'a\\\\ b']]);
    expect(decode('m\\\\\\ x f=1').name).toBe('m\\\\ x');
    expect(errorOf('m f\\\\=1')).toMatch(/want '=' after field key/); // the '=' is escaped
    expect(errorOf('m,k=v\\ f=1')).toMatch(/tag key/); // the space is escaped, so no fields begin
    expect(errorOf('m\\')).toMatch(/expected tag key or field but found end of input/);
  });

  it('allows quotes in measurements, tag values and field keys', () => {
    expect(decode('"m" "k"="v"')).toMatchObject({ name: '"m"', fields: [['"k"', { string: 'v' }]] });
    expect(decode('m,t="v" f=1').tags).toEqual([['t', '"v"']]);
  });

  it('unescapes only `\\"` and `\\\\` in string fields; raw newlines are content', () => {
    const s = (body: string) => {
      const d = decode(`m f="${body}"`);
      return (d.fields[0]![1] as { string: string }).string;
    };
    expect(s('a\\"b')).toBe('a"b');
    expect(s('a\\\\b')).toBe('a\\b');
    expect(s('a\\\\')).toBe('a\\');
    expect(s('\\\\\\"')).toBe('\\"');
    expect(s('a\\nb\\tc\\x')).toBe('a\\nb\\tc\\x');
    expect(s('line1\nline2\r\n')).toBe('line1\nline2\r\n');
    expect(s('x\x01y')).toBe('x\x01y');
    expect(errorOf('m f="a\\"')).toMatch(/closing quote/);
    const { l, b } = parse('m f="a\\"b\\\\c"');
    expect(decodeStringField(b, l.fieldValueStart[0]!, l.fieldValueEnd[0]!)).toBe('a"b\\c');
  });

  it('accepts control bytes other than CR and LF in tag values only (as the corpus does)', () => {
    expect(decode('m,k=x\x01y f=1').tags).toEqual([['k', 'x\x01y']]);
    expect(errorOf('x\x01y f=1')).toMatch(/expected tag key or field/);
    expect(errorOf('m,x\x01y=v f=1')).toMatch(/expected '=' after tag key "x"/);
    expect(errorOf('m x\x01y=1')).toMatch(/want '=' after field key "x"/);
  });
});

describe('CRLF', () => {
  it('takes a final \\r as the end of the line', () => {
    expect(decode('m f=1\r')).toMatchObject({ fields: [['f', { float: 1 }]], time: undefined });
    expect(decode('m f=1 5\r').time).toBe(5n);
    expect(decode('m f=1 5 \r').time).toBe(5n);
    expect(decode('m f="a" \r').fields).toEqual([['f', { string: 'a' }]]);
  });

  it('rejects a \\r anywhere else outside strings', () => {
    for (const line of ['m f=1\rx', 'm f=1\r\r', 'm f=1 5\rx', 'm,t=v\r f=1', 'm\r f=1'])
      expect(errorOf(line), JSON.stringify(line)).toEqual(expect.any(String));
  });
});

describe('field values', () => {
  it('reads integers in the int64 range', () => {
    expect(value('9223372036854775807i')).toEqual({ int: 9223372036854775807n });
    expect(value('-9223372036854775808i')).toEqual({ int: -9223372036854775808n });
    expect(value('007i')).toEqual({ int: 7n });
    expect(value('-0i')).toEqual({ int: 0n });
    for (const bad of ['9223372036854775808i', '-9223372036854775809i', '1.5i', '1e3i', '-i', '1_000i', '0x10i'])
      expect(errorOf(`m f=${bad}`), bad).toMatch(/integer/);
  });

  it('reads unsigned integers in the uint64 range', () => {
    expect(value('18446744073709551615u')).toEqual({ uint: 18446744073709551615n });
    expect(value('0u')).toEqual({ uint: 0n });
    for (const bad of ['18446744073709551616u', '-1u', '-0u', '1.0u']) expect(errorOf(`m f=${bad}`), bad).toMatch(/unsigned integer/);
  });

  it('reads the ten boolean spellings and nothing else', () => {
    for (const t of ['t', 'T', 'true', 'True', 'TRUE']) expect(value(t)).toEqual({ bool: true });
    for (const f of ['f', 'F', 'false', 'False', 'FALSE']) expect(value(f)).toEqual({ bool: false });
    for (const bad of ['tRUE', 'truex', 'fa']) expect(errorOf(`m f=${bad}`), bad).toMatch(/invalid bool/);
    expect(errorOf('m f=yes')).toMatch(/unrecognized type/);
  });

  it('reads floats with Go strconv.ParseFloat syntax and range', () => {
    const cases: [string, number][] = [
      ['1.5', 1.5],
      ['-0.5', -0.5],
      ['.5', 0.5],
      ['5.', 5],
      ['-.5', -0.5],
      ['1E5', 1e5],
      ['1e+05', 1e5],
      ['2.5e-3', 0.0025],
      ['1_000.000_1', 1000.0001],
      ['1e1_0', 1e10],
      ['00.25', 0.25],
      ['1e-400', 0],
      ['0e99999999999', 0],
      ['1.7976931348623157e308', Number.MAX_VALUE],
      ['4.9e-324', 5e-324],
      // eslint-disable-next-line no-loss-of-precision -- the float64 this text rounds to, as Go's ParseFloat gives it
      ['12345678901234567890', 12345678901234567890],
      ['0.1000000000000000055511151231257827', 0.1],
      ['9007199254740993', 9007199254740992],
      ['0x1p-2', 0.25],
      ['0x1.8p1', 3],
      ['0X_1P0', 1],
      ['-0x1p1', -2],
      ['0x.8p1', 1],
      ['0x1p-1074', 5e-324],
      ['0x1p-1075', 0],
      ['0x3p-1075', 1e-323],
      ['0x1.fffffffffffffp1023', Number.MAX_VALUE],
      ['0x1.00000000000008p0', 1],
      ['0x1.00000000000018p0', 1.0000000000000004],
    ];
    for (const [text, expected] of cases) expect(value(text), text).toEqual({ float: expected });
    expect(Object.is((value('-0') as { float: number }).float, -0)).toBe(true);
    const overflow = ['1e400', '-1e400', '1.7976931348623159e308', '1' + '0'.repeat(309), '0x1p1024', '0x1.fffffffffffff8p1023'];
    const syntax = [
      '.',
      '-',
      '1e',
      '1e+',
      '1.5.5',
      '1e5.5',
      '1__0',
      '1_',
      '1_.5',
      '1._5',
      '0x1',
      '0x1p',
      '0xp1',
      '-inf',
      '-Infinity',
      '1-2',
      '1\t2',
      '1\xff',
    ];
    for (const bad of [...overflow, ...syntax]) expect(errorOf(`m f=${bad}`), bad).toMatch(/invalid float/);
    for (const bad of ['inf', 'NaN', '+1', '_1']) expect(errorOf(`m f=${bad}`), bad).toMatch(/unrecognized type/);
  });

  it('parseFloatSpan agrees with the shortest round trip of any double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: 0, max: 20 }), (x, digits) => {
        for (const text of [String(x), x.toExponential(), Math.abs(x) < 1e21 ? x.toFixed(digits) : String(x)]) {
          const b = bytes(text);
          expect(parseFloatSpan(b, 0, b.length)).toBe(Number(text));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('parseFloatSpan reads the exact hex form of any double', () => {
    const hex = (x: number) => {
      const v = new DataView(new ArrayBuffer(8));
      v.setFloat64(0, x);
      const bits = v.getBigUint64(0);
      const e = Number((bits >> 52n) & 0x7ffn),
        frac = (bits & ((1n << 52n) - 1n)).toString(16).padStart(13, '0');
      return `${x < 0 || Object.is(x, -0) ? '-' : ''}0x${e === 0 ? '0' : '1'}.${frac}p${e === 0 ? -1022 : e - 1023}`;
    };
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const text = hex(x);
        expect(parseFloatSpan(bytes(text), 0, text.length), text).toBe(x);
      }),
      { numRuns: 3000 },
    );
  });

  it('parseFloatSpan rounds long decimals correctly', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^-?[0-9]{1,40}(\.[0-9]{0,40})?(e[+-]?[0-9]{1,3})?$/), (text) => {
        expect(parseFloatSpan(bytes(text), 0, text.length)).toBe(Number(text));
      }),
      { numRuns: 3000 },
    );
    expect(parseFloatSpan(bytes('x1'), 0, 2)).toBeNaN();
  });

  it('gives number spans to parseIntSpan and parseBoolSpan', () => {
    const { l, b } = parse('m i=-42i,u=42u,b=F');
    expect(parseIntSpan(b, l.fieldValueStart[0]!, l.fieldValueEnd[0]!)).toBe(-42n);
    expect(parseIntSpan(b, l.fieldValueStart[1]!, l.fieldValueEnd[1]!)).toBe(42n);
    expect(parseBoolSpan(b, l.fieldValueStart[2]!, l.fieldValueEnd[2]!)).toBe(false);
  });

  it('reports missing and misplaced values', () => {
    expect(errorOf('m f=')).toMatch(/expected value for field "f", found end of input/);
    expect(errorOf('m f= 1')).toMatch(/missing field value/);
    expect(errorOf('m f=,g=1')).toMatch(/missing field value/);
    expect(errorOf('m f=1,')).toMatch(/expected field key but none found/);
    expect(errorOf('m f="a"x')).toMatch(/unexpected character 'x' after field "f"/);
    expect(errorOf('m f=1,=2')).toMatch(/invalid character '=' found at start of field key/);
    expect(errorOf('m')).toMatch(/expected tag key or field but found end of input/);
    expect(errorOf('m ')).toMatch(/expected field key but none found/);
  });
});

describe('tags', () => {
  it('reports tag errors like the reference decoder', () => {
    expect(errorOf('cpu,host=serverA,region value=1i')).toMatch(/^expected '=' after tag key "region", but got ' '/);
    expect(errorOf('cpu,=x f=1')).toMatch(/empty tag key/);
    expect(errorOf('cpu,a= f=1')).toMatch(/expected tag value after tag key "a"/);
    expect(errorOf('cpu, f=1')).toMatch(/expected tag key after comma; got white space/);
    expect(errorOf('cpu,')).toMatch(/expected tag key after comma; got end of input/);
    expect(errorOf('cpu,a=b')).toMatch(/expected field key but none found/);
    expect(errorOf('cpu,a=b=c f=1')).toMatch(/empty tag key/);
  });

  it('rejects duplicate tag keys, sorted or not, escaped or not', () => {
    expect(errorOf('m,a=1,b=2,a=3 f=1')).toMatch(/duplicate tag key "a"/);
    expect(errorOf('m,a=1,a=1 f=1')).toMatch(/duplicate tag key/);
    expect(errorOf('m,a\\ b=1,a\\ b=2 f=1')).toMatch(/duplicate tag key/);
    expect(decode('m,b=1,a=2,c=3 f=1').tags).toEqual([
      ['a', '2'],
      ['b', '1'],
      ['c', '3'],
    ]);
    // Unsorted tags are checked by sorting, not pairwise: 50,000 of them stay fast.
    const many = Array.from({ length: 50_000 }, (_, i) => `,t${(i * 7919) % 50_000}=v`).join('');
    expect(errorOf(`m${many} f=1`)).toBeNull();
    expect(errorOf(`m${many},t123=v f=1`)).toMatch(/duplicate tag key "t123"/);
  });

  it('sorts decoded tags by key bytes, as the reference decoder does', () => {
    expect(decode('m,\xc3\xa9=1,z=2,a\\ b=3,a!=4 f=1').tags.map(([k]) => k)).toEqual(
      ['a b', 'a!', 'z', '\xc3\xa9'].map((k) => bytes(k).toString('utf8')),
    );
  });
});

describe('timestamps', () => {
  it('reads int64 timestamps, with spaces around', () => {
    expect(decode('m f=1 -1').time).toBe(-1n);
    expect(decode('m f=1  007  ').time).toBe(7n);
    expect(decode('m f=1 -9223372036854775808').time).toBe(-9223372036854775808n);
    expect(decode('m f=1 9223372036854775807').time).toBe(9223372036854775807n);
  });

  it('rejects bad timestamps and trailing text', () => {
    for (const bad of ['9223372036854775808', '-9223372036854775809', '12a', '1-2', '--1', '-', 'x', '1.5'])
      expect(errorOf(`m f=1 ${bad}`), bad).toMatch(/invalid timestamp/);
    expect(errorOf('m f=1 1 2')).toMatch(/unexpected text after timestamp/);
  });
});

describe('UTF-8', () => {
  it('accepts valid multi-byte text everywhere', () => {
    const d = decode(utf8('mé,tä=€ fü="😀 ok" 1'));
    expect(d).toMatchObject({ name: 'mé', tags: [['tä', '€']], fields: [['fü', { string: '😀 ok' }]] });
  });

  it('rejects invalid UTF-8 in every name and in strings (the caller passes such lines through)', () => {
    const invalid = ['\xff', '\xc0\xaf', '\xed\xa0\x80', '\xf4\x90\x80\x80', '\xe2\x82', '\x80', '\xf0\x9f\x98'];
    for (const seq of invalid) {
      for (const line of [`m${seq} f=1`, `m,t${seq}=v f=1`, `m,t=v${seq} f=1`, `m f${seq}=1`, `m f="a${seq}b"`]) {
        expect(errorOf(line), JSON.stringify(line)).toMatch(/invalid UTF-8/);
      }
    }
    expect(errorOf('# comment \xff')).toBe(BLANK_OR_COMMENT); // comments are not checked
  });
});

describe('robustness', () => {
  it('decodes a 1 MiB string field', () => {
    const body = 'ab"\\\n'.repeat(1 << 18);
    const escaped = body.replace(/["\\]/g, '\\$&');
    const d = decode(utf8(`m s="${escaped}" 1`));
    expect((d.fields[0]![1] as { string: string }).string).toBe(body);
  });

  it('never throws, whatever the bytes', () => {
    const token = fc.constantFrom(
      'm',
      'f',
      '=',
      ',',
      ' ',
      '"',
      '\\',
      '\n',
      '\r',
      '1',
      'i',
      'u',
      '.',
      'e',
      '-',
      '#',
      't',
      '0x',
      'p',
      '_',
      '\xff',
      '\xe2\x82\xac',
    );
    const lineArb = fc.oneof(
      fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
      fc.array(token, { maxLength: 30 }).map((t) => bytes(t.join(''))),
    );
    const l = new LineLayout();
    fc.assert(
      fc.property(lineArb, (b) => {
        const result = parseLine(b, 0, b.length, l);
        expect(result === null || typeof result === 'string').toBe(true);
        const d = decodeLine(b, 0, b.length);
        expect('error' in d ? d.error : null).toBe(result);
        for (let s = 0; s <= b.length; s++) parseFloatSpan(b, s, b.length);
      }),
      { numRuns: 5000 },
    );
  });
});
