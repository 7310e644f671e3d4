// The re-check's choice of Ed25519 engine and its strictness, with WebCrypto stand-ins: a laxer browser
// never gets the last word, a WebCrypto that fails its self-test is not used, and no key reaches
// WebCrypto that strict admission has not accepted, however late a key is admitted.
import { generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../core/keyfile';
import { admittedKey, hexToBytes, parsePublicKey } from '../../core/pubkey';
import { admissionsSoFar, parseKeyListLazily } from '../../grafana-plugin/panel/keyAdmission';
import { cryptoEngine, ed25519Engine, useSubtleForTests } from '../../grafana-plugin/panel/cryptoEngine';
import { canonicalS, recheck, verifyEd25519 } from '../../grafana-plugin/panel/recheck';
import { recheckAll, type RecheckJob } from '../../grafana-plugin/panel/useRechecks';
import { readVectorJson } from '../harness/vectors';

const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const le = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse();
const readLe = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const keyHex = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex');
const message = '2024-05-01T10:00:00,12.345';
const signature = sign(null, Buffer.from(message), privateKey);
/** The same signature with S + L in place of S: valid to a verifier that reduces S instead of refusing it. */
const malleated = Buffer.concat([signature.subarray(0, 32), le(readLe(signature.subarray(32)) + L)]);

const real = globalThis.crypto.subtle;
/** ed25519-speccheck's keys: small-order, mixed-order and non-canonical ones among them. */
const speccheckKeys = [...new Set(readVectorJson<Array<{ pub_key: string }>>('ed25519-speccheck/cases.json').map((c) => c.pub_key))];

/** A WebCrypto that reduces S modulo L instead of refusing S ≥ L, and counts what it is asked. */
function laxSubtle() {
  const seen = { verify: 0 };
  const subtle = {
    importKey: real.importKey.bind(real),
    verify: (alg: AlgorithmIdentifier, key: CryptoKey, sig: BufferSource, data: BufferSource) => {
      seen.verify++;
      const bytes = new Uint8Array(sig as ArrayBuffer);
      const reduced = Buffer.concat([bytes.subarray(0, 32), le(readLe(bytes.subarray(32)) % L)]);
      return real.verify(alg, key, reduced, data);
    },
  };
  return { subtle: subtle as unknown as SubtleCrypto, seen };
}

/** The real WebCrypto, with X25519 for key admission, counting the Ed25519 keys it is asked to import. */
function countingSubtle() {
  const seen = { importKey: 0 };
  const subtle = {
    importKey: (...args: Parameters<SubtleCrypto['importKey']>) => {
      if ((args[2] as Algorithm).name === 'Ed25519') seen.importKey++;
      return real.importKey(...args);
    },
    verify: real.verify.bind(real),
    deriveBits: real.deriveBits.bind(real),
  };
  return { subtle: subtle as unknown as SubtleCrypto, seen };
}

afterEach(() => useSubtleForTests(undefined));

describe('the Ed25519 engine of the re-check', () => {
  it('checks S < L itself', () => {
    expect(canonicalS(signature)).toBe(true);
    expect(canonicalS(malleated)).toBe(false);
    expect(canonicalS(Buffer.concat([Buffer.alloc(32), le(L)]))).toBe(false);
    expect(canonicalS(Buffer.concat([Buffer.alloc(32), le(L - 1n)]))).toBe(true);
  });

  it('gives the strict answer where a WebCrypto is laxer, without asking it', async () => {
    const { subtle, seen } = laxSubtle();
    useSubtleForTests(subtle);
    expect(await ed25519Engine()).toBe('webcrypto');
    const key = parsePublicKey(keyHex);
    const msg = new TextEncoder().encode(message);
    expect(
      await subtle.verify(
        { name: 'Ed25519' },
        await subtle.importKey('raw', key.bytes as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, false, ['verify']),
        malleated,
        msg,
      ),
    ).toBe(true);
    const asked = seen.verify;
    expect(await verifyEd25519(malleated, msg, key)).toBe(false);
    expect(seen.verify).toBe(asked);
    expect(await verifyEd25519(signature, msg, key)).toBe(true);
    expect(await verifyEd25519(malleated, msg, key, 'noble')).toBe(false);
  });

  it('does not use a WebCrypto that fails its RFC 8032 self-test', async () => {
    const yes = { importKey: real.importKey.bind(real), verify: async () => true } as unknown as SubtleCrypto;
    useSubtleForTests(yes);
    expect(await ed25519Engine()).toBe('noble');
    const keys = parseKeyFile(JSON.stringify({ plug: keyHex }));
    expect(await recheck({ device: 'plug', message, signature: signature.toString('hex'), values: [12.345] }, keys)).toEqual({
      kind: 'verified',
    });
    const other = sign(null, Buffer.from('2024-05-01T10:00:00,99.000'), privateKey).toString('hex');
    expect(await recheck({ device: 'plug', message, signature: other, values: [12.345] }, keys)).toEqual({ kind: 'bad_signature' });
  });

  it('uses noble where there is no WebCrypto Ed25519', async () => {
    const none = {
      importKey: () => Promise.reject(new DOMException('Unrecognized name', 'NotSupportedError')),
      verify: real.verify.bind(real),
    };
    useSubtleForTests(none as unknown as SubtleCrypto);
    expect(await ed25519Engine()).toBe('noble');
    expect(await verifyEd25519(signature, new TextEncoder().encode(message), parsePublicKey(keyHex))).toBe(true);
  });
});

describe('recheckAll', () => {
  it('hands over every outcome, in progress reports, and stops when cancelled', async () => {
    const keys = parseKeyFile(JSON.stringify({ plug: keyHex }));
    const jobs: RecheckJob[] = Array.from({ length: 200 }, (_, i) => ({
      key: String(i),
      device: 'plug',
      input: { device: 'plug', message, signature: signature.toString('hex'), values: [i === 7 ? 1 : 12.345] },
    }));
    const seen = new Map<string, string>();
    await recheckAll(jobs, keys, (done) => done.forEach(([job, o]) => seen.set(job.key, o.kind)));
    expect(seen.size).toBe(200);
    expect([...seen.values()].filter((k) => k === 'verified')).toHaveLength(199);
    expect(seen.get('7')).toBe('total_mismatch');

    let reports = 0;
    await recheckAll(
      jobs,
      keys,
      () => reports++,
      () => true,
    );
    expect(reports).toBe(0);
  });
});

describe('keys admitted on first use', () => {
  const file = JSON.stringify({
    good: keyHex,
    ...Object.fromEntries(speccheckKeys.map((k, i) => [`spec-${i}`, k])),
    listed: [keyHex, { key: speccheckKeys[0], label: 'small order' }],
    refusedOnly: [{ key: speccheckKeys[2] }],
    notHex: 'zz'.repeat(32),
  });

  it('gives the devices, keys and refusals that admitting them all up front gives', () => {
    const eager = parseKeyFile(file);
    const lazy = parseKeyListLazily(file);
    const view = (k: typeof eager) => Object.fromEntries([...k.devices].map(([d, es]) => [d, es.map((e) => e.key.hex)]));
    for (const device of ['good', 'listed', 'refusedOnly', 'notHex', ...speccheckKeys.map((_, i) => `spec-${i}`)]) {
      expect(
        lazy.devices.get(device)?.map((e) => e.key.hex),
        device,
      ).toEqual(eager.devices.get(device)?.map((e) => e.key.hex));
      expect(lazy.devices.has(device), device).toBe(eager.devices.has(device));
    }
    expect(view(lazy)).toEqual(view(eager));
    expect(lazy.devices.size).toBe(eager.devices.size);
    expect(lazy.keyCount).toBe(eager.keyCount);
    expect(lazy.rejected.map((r) => r.device).sort()).toEqual(eager.rejected.map((r) => r.device).sort());
    expect(eager.rejected.length).toBeGreaterThan(3); // the vectors hold keys that admission refuses
  });

  it('admits each key once for the page, however often the same list is parsed and looked up', () => {
    const devices = ['good', 'listed', 'refusedOnly', ...speccheckKeys.map((_, i) => `spec-${i}`)];
    const distinct = new Set([keyHex, ...speccheckKeys]).size;
    const before = admissionsSoFar();
    for (let refresh = 0; refresh < 3; refresh++) {
      const keys = parseKeyListLazily(file);
      for (const d of devices) keys.devices.get(d);
    }
    expect(admissionsSoFar() - before).toBeLessThanOrEqual(distinct);
    const after = admissionsSoFar();
    parseKeyListLazily(file).devices.get('good');
    parseKeyListLazily(JSON.stringify({ renamed: keyHex })).devices.get('renamed');
    expect(admissionsSoFar()).toBe(after);
  });

  it("re-checks nothing under a key admission refuses, and gives WebCrypto's Ed25519 none of them", async () => {
    const { subtle, seen } = countingSubtle();
    useSubtleForTests(subtle);
    expect(await cryptoEngine()).toMatchObject({ verifier: 'webcrypto', admitsKeys: true, workers: false });
    const imported = seen.importKey; // the self-test's key
    const msg = new TextEncoder().encode(message);
    const refused = speccheckKeys.filter((k) => !parseKeyFile(JSON.stringify({ d: k })).devices.has('d'));
    expect(refused.length).toBeGreaterThan(2);
    for (const k of refused) {
      // A key object that skipped admission, as a caller's bug could hand over.
      expect(await verifyEd25519(signature, msg, admittedKey(hexToBytes(k)), 'webcrypto')).toBe(false);
      expect(parseKeyListLazily(JSON.stringify({ plug: k })).devices.get('plug')).toBeUndefined();
      const keys = parseKeyListLazily(JSON.stringify({ plug: k }));
      expect(await recheck({ device: 'plug', message, signature: signature.toString('hex'), values: [12.345] }, keys)).toEqual({
        kind: 'no_key',
      });
    }
    expect(seen.importKey).toBe(imported);
  });
});
