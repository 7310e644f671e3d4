/**
 * Which code does a re-check's cryptography, decided once per page: the browser's WebCrypto where it
 * passes self-tests (in Web Workers where the page may make them, else on the page's thread), else
 * strict @noble/ed25519. Verification and key admission are decided apart: a WebCrypto with Ed25519
 * but no X25519 still verifies, and noble then admits the keys.
 */
import { hexToBytes } from '../../core/pubkey';
import { startCryptoWorkers } from './cryptoWorkers';
import { webcryptoOps, type CryptoOps, type Subtle } from './webcryptoOps';

/** Which implementation verifies: the browser's WebCrypto, or strict @noble/ed25519. */
export type Ed25519Engine = 'webcrypto' | 'noble';

export type CryptoEngine =
  | { verifier: 'noble' }
  /** `admitsKeys`: `ops.primeOrder` passed its self-test, so it admits keys instead of noble. */
  | { verifier: 'webcrypto'; ops: CryptoOps; admitsKeys: boolean; workers: boolean };

// RFC 8032 §7.1 TEST 2: the self-test a WebCrypto must pass before it is trusted with a verdict.
const TEST_KEY = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c';
const TEST_MESSAGE = '72';
const TEST_SIGNATURE =
  '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00';
// Points strict admission refuses, one per way X25519 must tell apart: TEST_KEY plus a point of order 8
// (mixed order), that point of order 8 itself (small order), and y = 2, which is on no point (its u is on
// the twist). A non-canonical y, y = 1 and y = −1 never reach WebCrypto.
const REFUSED_KEYS = [
  '0169d3c02f3edd121cafbe1dfd45c4cf4aac216a79e36e6326419f2a654d2d46',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '0200000000000000000000000000000000000000000000000000000000000000',
];
/** A worker that has not answered its self-test by then is not used (a policy may stop it silently). */
const WORKER_TEST_MS = 5_000;

let subtleOverride: Subtle | null | undefined;
let decided: Promise<CryptoEngine> | undefined;

const pageSubtle = (): Subtle | undefined =>
  subtleOverride === undefined ? (globalThis.crypto?.subtle as Subtle | undefined) : (subtleOverride ?? undefined);

/** Tests only: a WebCrypto stand-in (or `null` for none) on the page's thread, no workers; `undefined` restores the browser's. */
export function useSubtleForTests(s: Subtle | null | undefined): void {
  subtleOverride = s;
  decided = undefined;
}

/** Accepts TEST 2, refuses it with a bit flipped and over another message. */
async function verifiesRight(ops: CryptoOps): Promise<boolean> {
  const key = hexToBytes(TEST_KEY);
  const sig = hexToBytes(TEST_SIGNATURE);
  const msg = hexToBytes(TEST_MESSAGE);
  const flipped = sig.slice();
  flipped[0]! ^= 1;
  const answers = await Promise.all([ops.verify(key, sig, msg), ops.verify(key, flipped, msg), ops.verify(key, sig, hexToBytes('73'))]);
  return answers[0] === true && answers[1] === false && answers[2] === false;
}

/** Admits TEST 2's key and refuses each of REFUSED_KEYS. */
async function admitsRight(ops: CryptoOps): Promise<boolean> {
  const answers = await Promise.all(ops.primeOrder([TEST_KEY, ...REFUSED_KEYS].map((k) => hexToBytes(k))));
  return answers[0] === true && answers.slice(1).every((a) => a === false);
}

const within = <T>(ms: number, p: Promise<T>, otherwise: T): Promise<T> =>
  Promise.race([p.catch(() => otherwise), new Promise<T>((resolve) => setTimeout(() => resolve(otherwise), ms))]);

async function decide(): Promise<CryptoEngine> {
  const s = pageSubtle();
  if (!s) return { verifier: 'noble' };
  if (subtleOverride === undefined) {
    // One more worker than cores: a worker's thread waits on its WebCrypto threads (measured on two cores:
    // three workers verify 10,000 signatures in 0.4–0.55 s, two in 0.6, the page's own thread in 0.7).
    const count = Math.min(8, Math.max(2, globalThis.navigator?.hardwareConcurrency ?? 2) + 1);
    const workers = startCryptoWorkers(count);
    if (workers) {
      // Every worker passes, or none is used.
      const passes = (test: (ops: CryptoOps) => Promise<boolean>) =>
        within(
          WORKER_TEST_MS,
          Promise.all(workers.each.map(test)).then((all) => all.every(Boolean)),
          false,
        );
      if (await passes(verifiesRight))
        return { verifier: 'webcrypto', ops: workers.ops, admitsKeys: await passes(admitsRight), workers: true };
      workers.stop();
    }
  }
  const ops = webcryptoOps(s);
  if (!(await verifiesRight(ops).catch(() => false))) return { verifier: 'noble' };
  return { verifier: 'webcrypto', ops, admitsKeys: await admitsRight(ops).catch(() => false), workers: false };
}

/** The page's crypto engine, decided once (the first call runs the self-tests). */
export function cryptoEngine(): Promise<CryptoEngine> {
  return (decided ??= decide());
}

/** Which implementation verifies signatures on this page. */
export const ed25519Engine = async (): Promise<Ed25519Engine> => (await cryptoEngine()).verifier;
