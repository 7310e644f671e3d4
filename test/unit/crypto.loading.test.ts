/**
 * The places sodium-native is looked for, and the self-test every route to it passes before it is used
 * (docs/design.md §5). test/processor/crypto-loading.test.ts runs the built processor against planted copies.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { passesSelfTest, sodiumPlaces, sodiumRoutes, type Sodium } from '../../core/node/sodium';
import { loadVerifier, nativePointCheck } from '../../core/node/verifier';

const { addon, module } = sodiumRoutes();
if (!addon || !module) throw new Error('sodium-native and its prebuilt addon are missing: run npm ci');

describe('where sodium-native is looked for', () => {
  it('bundled: beside the file, and in the folder above (the npm layout), nowhere else', () => {
    expect(sodiumPlaces('/opt/meterproof/dist/processor.js')).toEqual([
      '/opt/meterproof/dist/node_modules/sodium-native',
      '/opt/meterproof/node_modules/sodium-native',
    ]);
    expect(sodiumPlaces('/usr/local/lib/meterproof/processor.js')).toEqual([
      '/usr/local/lib/meterproof/node_modules/sodium-native',
      '/usr/local/lib/node_modules/sodium-native',
    ]);
  });

  it('from source: the repository root', () => {
    expect(sodiumPlaces()).toEqual([join(__dirname, '..', '..', 'node_modules', 'sodium-native')]);
  });

  it('with --crypto node, no point check from libsodium, and node:crypto', () => {
    expect(nativePointCheck('node')).toBeUndefined();
    expect(loadVerifier('node').name).toBe('node:crypto');
    expect(loadVerifier('auto').name).toBe('libsodium');
  });
});

describe('the self-test', () => {
  it('passes both real routes (the addon loaded directly, the package)', () => {
    expect(passesSelfTest(addon)).toBe(true);
    expect(passesSelfTest(module)).toBe(true);
  });

  const real = addon;
  const liars: [string, Sodium][] = [
    ['verifies everything', { verify: () => true, isValidPoint: () => true }],
    ['verifies nothing', { verify: () => false, isValidPoint: () => false }],
    [
      "ignores the signature's first byte",
      {
        verify: (s, m, pk) => real.verify(Uint8Array.of(0x92, ...s.subarray(1)), m, pk), // the vector's own first byte
        isValidPoint: real.isValidPoint,
      },
    ],
    ['ignores the message', { verify: (s, _m, pk) => real.verify(s, Uint8Array.of(0x72), pk), isValidPoint: real.isValidPoint }],
    ['admits every point', { verify: real.verify, isValidPoint: () => true }],
    [
      'verifies under a small-order key',
      {
        verify: (s, m, pk) => (pk[0] === 1 && pk.subarray(1).every((b) => b === 0) ? true : real.verify(s, m, pk)),
        isValidPoint: real.isValidPoint,
      },
    ],
    [
      'answers non-booleans',
      { verify: (s, m, pk) => (real.verify(s, m, pk) ? 1 : 0) as unknown as boolean, isValidPoint: real.isValidPoint },
    ],
    [
      'throws',
      {
        verify: () => {
          throw new TypeError('other entry points');
        },
        isValidPoint: real.isValidPoint,
      },
    ],
  ];
  it.each(liars)('refuses one that %s', (_, liar) => {
    expect(passesSelfTest(liar)).toBe(false);
  });
});
