// Key admission by one X25519 (grafana-plugin/panel/webcryptoOps.ts) gives strict noble's answer
// (core/pubkey.ts) on every kind of key, with Node's WebCrypto, which is OpenSSL's X25519: keys made the
// usual way, random bytes (half of them off the curve), keys plus each point of small order, the small-
// order points themselves, every non-canonical y, and the keys of the public vectors. The same function
// runs in Chromium's workers (test/services/grafana.recheck.test.ts).
import fc from 'fast-check';
import { Point } from '@noble/ed25519';
import { afterEach, describe, expect, it } from 'vitest';
import { admitKeyBytes, bytesToHex, hexToBytes, KeyRejected } from '../../core/pubkey';
import { cryptoEngine, useSubtleForTests } from '../../grafana-plugin/panel/cryptoEngine';
import { admissionsSoFar, admittedKeysOf, parseKeyListLazily } from '../../grafana-plugin/panel/keyAdmission';
import { webcryptoOps } from '../../grafana-plugin/panel/webcryptoOps';
import '../harness/fast-check-seed';
import { readVectorJson } from '../harness/vectors';

const P = 2n ** 255n - 19n;
const le = (n: bigint) => Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse());
const ops = webcryptoOps(globalThis.crypto.subtle);

/** Strict noble's answer: null when admitted, else its reason. */
function noble(bytes: Uint8Array): string | null {
  try {
    admitKeyBytes(bytes);
    return null;
  } catch (e) {
    if (!(e instanceof KeyRejected)) throw e;
    return e.message;
  }
}

/** Both answers for each key; fails on the first key where they differ. */
async function sameAnswers(keys: readonly Uint8Array[]): Promise<{ admitted: number; refused: Set<string> }> {
  const fast = await Promise.all(ops.primeOrder(keys)); // one batch: one inversion for all
  const refused = new Set<string>();
  let admitted = 0;
  keys.forEach((k, i) => {
    const why = noble(k);
    expect({ key: bytesToHex(k), admitted: fast[i] }).toEqual({ key: bytesToHex(k), admitted: why === null });
    if (why === null) admitted++;
    else refused.add(why);
  });
  return { admitted, refused };
}

// The eight points of order dividing 8, in their canonical encodings.
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
].map((h) => Point.fromHex(h, true));

const scalars = fc.sample(fc.bigInt({ min: 1n, max: 2n ** 252n }), 60);
const genuine = scalars.map((s) => Point.BASE.multiply(s));

afterEach(() => useSubtleForTests(undefined));

describe('key admission by one X25519', () => {
  it('admits keys made the usual way', async () => {
    const { admitted } = await sameAnswers(genuine.map((p) => p.toBytes()));
    expect(admitted).toBe(genuine.length);
  });

  it('refuses a key plus a point of small order, and the points of small order themselves', async () => {
    expect(SMALL_ORDER.map((t) => t.isSmallOrder())).toEqual(Array(8).fill(true));
    const mixed = genuine.slice(0, 20).flatMap((p) => SMALL_ORDER.slice(1).map((t) => p.add(t).toBytes()));
    const small = SMALL_ORDER.map((t) => t.toBytes());
    const { admitted, refused } = await sameAnswers([...mixed, ...small]);
    expect(admitted).toBe(0);
    expect([...refused].sort()).toEqual([
      'has small order (a weak key under which forgeries verify)',
      'is not in the prime-order subgroup (mixed-order key)',
    ]);
  });

  it('answers as noble on random bytes, on and off the curve, either sign of x', async () => {
    const keys = fc.sample(fc.uint8Array({ minLength: 32, maxLength: 32 }), 400);
    const { admitted, refused } = await sameAnswers(keys);
    // About half are on the curve, and an eighth of those have prime order.
    expect(admitted).toBeGreaterThan(10);
    expect(refused).toContain('is not a valid Ed25519 point (off the curve or a non-canonical encoding)');
    expect(refused).toContain('is not in the prime-order subgroup (mixed-order key)');
  });

  it('refuses every non-canonical y (p ≤ y < 2^255), with either sign bit', async () => {
    const keys = Array.from({ length: 19 }, (_, i) => le(P + BigInt(i))).flatMap((k) => [
      k,
      Uint8Array.from(k, (b, i) => (i === 31 ? b | 0x80 : b)),
    ]);
    expect((await sameAnswers(keys)).admitted).toBe(0);
  });

  it('answers as noble on the keys of Wycheproof, ed25519-speccheck and ZIP 215', async () => {
    const hex = new Set([
      ...readVectorJson<{ testGroups: { publicKey: { pk: string } }[] }>('wycheproof/wycheproof_ed25519_test_v1.json').testGroups.map(
        (g) => g.publicKey.pk,
      ),
      ...readVectorJson<{ pub_key: string }[]>('ed25519-speccheck/cases.json').map((c) => c.pub_key),
      ...readVectorJson<{ vk_bytes: string }[]>('zip215/zip215.json').map((c) => c.vk_bytes),
    ]);
    const { admitted, refused } = await sameAnswers([...hex].map((h) => hexToBytes(h)));
    expect(admitted).toBeGreaterThan(0);
    expect(refused.size).toBeGreaterThan(1);
  });

  it('refuses what is not 32 bytes', async () => {
    expect(await Promise.all(ops.primeOrder([genuine[0]!.toBytes().subarray(0, 31), genuine[0]!.toBytes()]))).toEqual([false, true]);
  });
});

describe('the page admits keys with WebCrypto once it passed its self-test', () => {
  it('uses X25519 where the WebCrypto has it, and says why a key is refused through noble', async () => {
    useSubtleForTests(globalThis.crypto.subtle);
    expect(await cryptoEngine()).toMatchObject({ verifier: 'webcrypto', admitsKeys: true });
    const mixed = genuine[1]!.add(SMALL_ORDER[4]!).toBytes();
    const keys = parseKeyListLazily(JSON.stringify({ good: genuine[2]!.toHex(), mixed: bytesToHex(mixed) }));
    const before = admissionsSoFar();
    expect((await admittedKeysOf(keys, 'good'))?.map((e) => e.key.hex)).toEqual([genuine[2]!.toHex()]);
    expect(await admittedKeysOf(keys, 'mixed')).toBeUndefined();
    expect(keys.rejected.map((r) => r.reason)).toEqual(['device "mixed": key is not in the prime-order subgroup (mixed-order key)']);
    expect(admissionsSoFar() - before).toBe(2);
  });

  it('leaves admission to noble where the WebCrypto has Ed25519 but no X25519', async () => {
    const real = globalThis.crypto.subtle;
    useSubtleForTests({
      importKey: real.importKey.bind(real),
      verify: real.verify.bind(real),
      deriveBits: () => Promise.reject(new DOMException('Unrecognized name', 'NotSupportedError')),
    });
    expect(await cryptoEngine()).toMatchObject({ verifier: 'webcrypto', admitsKeys: false });
    const keys = parseKeyListLazily(JSON.stringify({ plug: genuine[3]!.toHex() }));
    expect((await admittedKeysOf(keys, 'plug'))?.length).toBe(1);
  });

  it('refuses the point of order 2 (u = 0) with an X25519 that answers all zeros where it should throw', async () => {
    const real = globalThis.crypto.subtle;
    useSubtleForTests({
      importKey: real.importKey.bind(real),
      verify: real.verify.bind(real),
      deriveBits: (...args: Parameters<SubtleCrypto['deriveBits']>) => real.deriveBits(...args).catch(() => new ArrayBuffer(32)),
    });
    expect(await cryptoEngine()).toMatchObject({ verifier: 'webcrypto', admitsKeys: true });
    const two = 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
    expect(await admittedKeysOf(parseKeyListLazily(JSON.stringify({ plug: two })), 'plug')).toBeUndefined();
  });

  it('does not admit with an X25519 that fails its self-test (one that says yes to every key)', async () => {
    const real = globalThis.crypto.subtle;
    const us = new WeakMap<CryptoKey, ArrayBuffer>();
    useSubtleForTests({
      importKey: async (...args: Parameters<SubtleCrypto['importKey']>) => {
        const key = await real.importKey(...args);
        if (args[0] === 'raw' && (args[2] as Algorithm).name === 'X25519') us.set(key, Uint8Array.from(args[1] as Uint8Array).buffer);
        return key;
      },
      verify: real.verify.bind(real),
      // Gives back the u it was given: every point would look of prime order.
      deriveBits: async (alg: EcdhKeyDeriveParams) => us.get(alg.public)!,
    } as unknown as Pick<SubtleCrypto, 'importKey' | 'verify' | 'deriveBits'>);
    expect(await cryptoEngine()).toMatchObject({ verifier: 'webcrypto', admitsKeys: false });
    const mixed = bytesToHex(genuine[4]!.add(SMALL_ORDER[4]!).toBytes());
    expect(await admittedKeysOf(parseKeyListLazily(JSON.stringify({ plug: mixed })), 'plug')).toBeUndefined();
  });
});
