/** NameIndex against a Map: the same answers for any names and any order of sets and deletes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NameIndex } from '../../core/name-index';

describe('NameIndex', () => {
  it('answers as a Map does, through growth, updates, deletes and any UTF-16 (lone surrogates too)', () => {
    const name = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 6 }),
      fc.constantFrom('', 'a', 'b', 'plug-1', 'plug-10'),
    );
    const op = fc.tuple(fc.constantFrom('set', 'delete'), name, fc.nat(1e6));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 800 }), (ops) => {
        const index = new NameIndex();
        const map = new Map<string, number>();
        for (const [kind, n, v] of ops) {
          if (kind === 'set') {
            index.set(n, v);
            map.set(n, v);
          } else {
            index.delete(n);
            map.delete(n);
          }
        }
        expect(index.size).toBe(map.size);
        for (const [, n] of ops) expect(index.get(n)).toBe(map.get(n));
        expect(new Map(index.entries())).toEqual(map);
      }),
      { numRuns: 300 },
    );
  });

  it('holds 100,000 device names', () => {
    const index = new NameIndex();
    for (let i = 0; i < 100_000; i++) index.set(`dev-${i}`, i);
    expect(index.size).toBe(100_000);
    for (let i = 0; i < 100_000; i += 997) expect(index.get(`dev-${i}`)).toBe(i);
    expect(index.get('dev-100000')).toBeUndefined();
  });
});
