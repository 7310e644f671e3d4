import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLine } from '../../core/lineprotocol/decode';
import { escapeFieldKey, escapeStringField, escapeTagKey, escapeTagValue } from '../../core/lineprotocol/encode';

/** A line carrying one added tag and one added string field, as the processor writes them. */
function roundTrip(tagKey: string, tagValue: string, fieldKey: string, text: string) {
  const line = Buffer.from(
    `m,${escapeTagKey(tagKey)}=${escapeTagValue(tagValue)} ${escapeFieldKey(fieldKey)}="${escapeStringField(text)}" 1`,
  );
  return decodeLine(line, 0, line.length);
}

describe('escaping for written tags and fields (Telegraf serializer rules)', () => {
  it('escapes , = and space in keys and tag values, and control characters as \\t \\n \\f \\r', () => {
    expect(escapeTagKey('a b,c=d')).toBe('a\\ b\\,c\\=d');
    expect(escapeTagValue('tele/dev 1/SENSOR')).toBe('tele/dev\\ 1/SENSOR');
    expect(escapeFieldKey('x\ty\nz\fw\r')).toBe('x\\ty\\nz\\fw\\r');
    expect(escapeTagValue('"quoted"\\path')).toBe('"quoted"\\path');
    expect(escapeFieldKey('ENERGY_Total_0')).toBe('ENERGY_Total_0');
  });

  it('drops control bytes that no name can hold and trims trailing backslashes', () => {
    expect(escapeTagKey('a\x01b\x7f')).toBe('ab');
    expect(escapeTagValue('dir\\')).toBe('dir');
    expect(escapeFieldKey('\\\\')).toBe('');
    expect(escapeTagValue('a\\ ')).toBe('a\\\\ '); // the backslash stays literal; the space is escaped
  });

  it('escapes only " and \\ in string fields, keeping raw newlines', () => {
    expect(escapeStringField('2023-02-08T14:12:20,1.500')).toBe('2023-02-08T14:12:20,1.500');
    expect(escapeStringField('say "hi"\nC:\\x')).toBe('say \\"hi\\"\nC:\\\\x');
  });

  it('round-trips any printable names and any string through the reference grammar', () => {
    const name = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 20 })
      .map((s) => s.replace(/[\x00-\x1f\x7f]/g, '').replace(/\\+$/, ''))
      .filter((s) => s !== '');
    fc.assert(
      fc.property(name, name, name, fc.string({ unit: 'binary', maxLength: 40 }), (k, v, f, text) => {
        const d = roundTrip(k, v, f, text);
        // Plain comparisons: expect() inside thousands of runs is slow.
        return (
          !('error' in d) &&
          d.tags.length === 1 &&
          d.tags[0]![0] === k &&
          d.tags[0]![1] === v &&
          d.fields.length === 1 &&
          d.fields[0]![0] === f &&
          (d.fields[0]![1] as { string?: string }).string === text
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('always yields a valid line when the escaped names are not empty', () => {
    const any = fc.string({ unit: 'binary-ascii', maxLength: 20 });
    fc.assert(
      fc.property(any, any, any, any, (k, v, f, text) => {
        fc.pre(escapeTagKey(k) !== '' && escapeTagValue(v) !== '' && escapeFieldKey(f) !== '');
        return !('error' in roundTrip(k, v, f, text));
      }),
      { numRuns: 2000 },
    );
  });
});
