/** The firmware's signing rules as the verifier rebuilds them (core/firmware.ts). */
import { describe, expect, it } from 'vitest';
import { exactDecimalCounts, formatTotal, likeliestDecimals, signedTime } from '../../core/firmware';

describe('signedTime', () => {
  it.each([
    ['2023-02-08T14:12:20', '2023-02-08T14:12:20'],
    ['2023-02-08T14:12:20+01:00', '2023-02-08T14:12:20'],
    ['2024-02-29T00:00:00', '2024-02-29T00:00:00'],
    ['2000-02-29T23:59:59', '2000-02-29T23:59:59'],
  ])('keeps the 19 signed characters of %s', (t, want) => expect(signedTime(t)).toBe(want));

  it.each([
    '2023-02-29T00:00:00',
    '1900-02-29T00:00:00',
    '2023-04-31T00:00:00',
    '2023-13-01T00:00:00',
    '2023-00-10T00:00:00',
    '2023-01-01T24:00:00',
    '2023-01-01T00:60:00',
    '2023-01-01T00:00:60',
    '2023-01-01 00:00:00',
    '2023-1-01T00:00:00',
    '2023-01-01T00:00',
    '２０２３-01-01T00:00:00',
    'yesterday at noon!!',
  ])('refuses %s', (t) => expect(signedTime(t)).toBeUndefined());
});

describe('decimal counts', () => {
  it('offers only counts that print the float back exactly, the preferred first', () => {
    expect(exactDecimalCounts([1.5])).toEqual([3, 1, 2, 4, 5, 6]);
    expect(exactDecimalCounts([1.5], 1)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(exactDecimalCounts([10])).toEqual([3, 0, 1, 2, 4, 5, 6]);
    expect(exactDecimalCounts([10.0004])).toEqual([4, 5, 6]); // never "10.000": that would be a rounding
    expect(exactDecimalCounts([1.2345678])).toEqual([]);
    expect(exactDecimalCounts([1e21])).toEqual([]);
    expect(exactDecimalCounts([NaN])).toEqual([]);
    expect(exactDecimalCounts([1.25, 3.5, 2])).toEqual([3, 2, 4, 5, 6]); // phases share one count
    expect(likeliestDecimals([0.1], 6)).toBe(6);
  });

  it('prints Total as the firmware does, arrays included', () => {
    expect(formatTotal([1.5], 3, false)).toBe('1.500');
    expect(formatTotal([1201.5, 980.25, 1110], 3, true)).toBe('[1201.500,980.250,1110.000]');
    expect(formatTotal([-0], 3, false)).toBe('-0.000');
    expect(formatTotal([120], 0, false)).toBe('120');
  });
});
