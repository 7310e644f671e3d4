/** The key registry file: both formats, refusals, and a streaming reader that agrees with JSON.parse. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyValidAt, KeyFileError, parseKeyFile } from '../../core/keyfile';
import { deviceKey } from '../../sim/plug';

const k1 = deviceKey('kf', 'one').publicKeyHex;
const k2 = deviceKey('kf', 'two').publicKeyHex;

describe('parseKeyFile', () => {
  it("reads the reference validator's pub_keys.json unchanged", () => {
    const f = parseKeyFile(JSON.stringify({ 'plug-1': k1, 'plug 2 "x"\\': k2.toUpperCase() }, null, 2));
    expect([...f.devices.keys()]).toEqual(['plug-1', 'plug 2 "x"\\']);
    expect(f.devices.get('plug-1')![0]!.key.hex).toBe(k1);
    expect(f.devices.get('plug 2 "x"\\')![0]!.key.hex).toBe(k2);
    expect(f.rejected).toEqual([]);
  });

  it('on reload, reuses keys it already admitted (the same objects for active devices, no second check)', () => {
    const first = parseKeyFile(JSON.stringify({ a: k1, b: [k2] }));
    const active = first.devices.get('a')![0]!.key; // looked up, as a device sending readings is
    let checks = 0;
    const second = parseKeyFile(JSON.stringify({ a: k1.toUpperCase(), b: [k2, k1], c: k2 }), () => (checks++, true), first);
    expect(second.devices.get('a')![0]!.key).toBe(active);
    expect(second.devices.get('b')![0]!.key).toBe(first.devices.get('b')![0]!.key);
    expect(checks).toBe(2); // b's new k1 and c's k2: keys new to their device are checked
  });

  it('holds the densest possible file: members of the shortest form, names repeated, no white space', () => {
    // 3,000 members of `"":"<hex>"` (the empty name, again and again) and one-letter names: the key store
    // is sized from the file's length, and this is the most plain keys a file of this length can hold.
    const members = Array.from(
      { length: 3000 },
      (_, i) => `"${i % 3 === 0 ? '' : String.fromCharCode(97 + (i % 26))}":"${i % 2 ? k1 : k2}"`,
    );
    const f = parseKeyFile(`{${members.join(',')}}`);
    // A repeated name counts once: the last member, as in JSON.parse.
    expect(f.keyCount).toBe(27);
    expect(f.devices.size).toBe(27);
    expect(f.devices.get('')![0]!.key.hex).toBe(JSON.parse(`{${members.join(',')}}`)[''] as string);
  });

  it('reads key lists with windows, revocation and labels', () => {
    const f = parseKeyFile(
      JSON.stringify({
        d: [
          { key: k1, not_after: '2025-04-01', label: 'old' },
          { key: k2, not_before: '2025-04-01T00:00:01', revoked: true },
        ],
      }),
    );
    const [a, b] = f.devices.get('d')!;
    // A bare date is the whole day: bounds are inclusive.
    expect(a).toMatchObject({ notAfter: '2025-04-01T23:59:59', revoked: false, label: 'old' });
    expect(b).toMatchObject({ notBefore: '2025-04-01T00:00:01', revoked: true });
    expect(keyValidAt(a!, '2025-04-01T23:59:59')).toBe(true);
    expect(keyValidAt(a!, '2025-04-02T00:00:00')).toBe(false);
    expect(keyValidAt(b!, '2026-01-01T00:00:00')).toBe(false);
  });

  it('refuses bad entries one by one, naming the device, and keeps the rest', () => {
    const f = parseKeyFile(
      JSON.stringify({ ok: k1, short: 'abcd', obj: { key: k2, colour: 'red' }, list: [k2, { key: k1, not_before: 'soon' }], num: 5 }),
    );
    expect([...f.devices.keys()].sort()).toEqual(['list', 'ok']);
    expect(f.devices.get('list')!.length).toBe(1);
    expect(f.rejected.map((r) => r.reason)).toEqual([
      'device "short": key is not 32 bytes of hex (got 4 characters)',
      'device "obj": key entry has unknown field(s) "colour"',
      'device "list" key #2: key entry "not_before" must be "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS"',
      'device "num": key entry must be a hex string or an object with "key"',
    ]);
  });

  it.each([
    ['{"a": "b",\n  oops}', /^not valid JSON at line 2, column \d+/],
    ['["not", "an object"]', /^must be a JSON object/],
    ['', /^not valid JSON/],
    ['{"a": "x"} trailing', /^not valid JSON/],
  ])('rejects an unusable file %j as a whole', (text, msg) => {
    expect(() => parseKeyFile(text)).toThrow(KeyFileError);
    expect(() => parseKeyFile(text)).toThrow(msg);
  });

  it('agrees with JSON.parse on any JSON object (streaming reader)', () => {
    const value = fc.oneof(
      fc.constantFrom(k1, k2, 'zz'),
      fc.array(fc.oneof(fc.constantFrom(k1), fc.record({ key: fc.constantFrom(k1, k2) })), { maxLength: 3 }),
      fc.integer(),
      fc.constant(null),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), value), fc.constantFrom(undefined, 1, '\t', ' \n '), (doc, indent) => {
        const text = JSON.stringify(doc, null, indent as never);
        const f = parseKeyFile(text);
        const expected = Object.entries(JSON.parse(text) as Record<string, unknown>);
        const seen = new Set([...f.devices.keys(), ...f.rejected.map((r) => r.device)]);
        expect([...seen].sort()).toEqual(expected.map(([k]) => k).sort());
      }),
      { numRuns: 300 },
    );
  });
});
