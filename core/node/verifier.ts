/**
 * Ed25519 verification backends. libsodium (`sodium-native`, looked for only beside the running file and
 * used only after its self-test: ./sodium.ts) is the fast path; `node:crypto` (OpenSSL) is the fallback.
 * Both see only keys admitted by `parsePublicKey`, which is what makes them agree (docs/design.md §5).
 */
import { createRequire } from 'node:module';
import type { KeyObject } from 'node:crypto';
import type { PointCheck, PublicKey } from '../pubkey';
import { loadSodium, sodiumPlaces, type Sodium, type SodiumLoad } from './sodium';

export { sodiumRoutes, type Sodium } from './sodium';

export type BackendName = 'libsodium' | 'node:crypto';
export type BackendChoice = 'auto' | 'sodium' | 'node';

export interface SignatureVerifier {
  readonly name: BackendName;
  /** `signature` is 64 bytes; `message` the exact signed bytes. */
  verify(signature: Uint8Array, message: Uint8Array, key: PublicKey): boolean;
}

const requireHere = createRequire(import.meta.url);

/** Told, once per process, why a sodium-native found beside the file is not used: a `W! ` line on stderr by default. */
export type LoadWarning = (message: string) => void;
const warnOnStderr: LoadWarning = (message) => void process.stderr.write(`W! ${message}\n`);
const quiet: LoadWarning = () => {};

let loaded: SodiumLoad | undefined;
let warned = false;
/** libsodium from beside this file, loaded once per thread (docs/design.md §5). */
function sodiumBeside(warn: LoadWarning): SodiumLoad {
  loaded ??= loadSodium();
  if (loaded.refused && !warned) {
    warned = true;
    warn(`sodium-native in ${loaded.found} ${loaded.refused}: not using it`);
  }
  return loaded;
}

/** Whether a sodium-native was found beside the processor and refused (so advice to install one would mislead). */
export const sodiumRefused = (): boolean => loaded?.refused !== undefined;

/**
 * libsodium's check for canonical, on-curve, prime-order points, when sodium-native beside the file
 * passes the self-test. With `node` chosen, nothing of sodium-native is looked at.
 */
export function nativePointCheck(choice: BackendChoice = 'auto', warn: LoadWarning = warnOnStderr): PointCheck | undefined {
  if (choice === 'node') return undefined;
  const { sodium } = sodiumBeside(choice === 'sodium' ? quiet : warn); // loadVerifier('sodium') then says why
  return sodium && ((bytes) => sodium.isValidPoint(bytes));
}

export function sodiumVerifier(sodium: Sodium): SignatureVerifier {
  return {
    name: 'libsodium',
    verify: (signature, message, key) => signature.length === 64 && sodium.verify(signature, message, key.bytes),
  };
}

export function opensslVerifier(): SignatureVerifier {
  // Loaded here, not at start-up: node:crypto costs milliseconds to load and is only the fallback.
  const { createPublicKey, verify } = requireHere('node:crypto') as typeof import('node:crypto');
  // Parsing the key costs as much as a verify; cache one KeyObject per admitted key.
  const keyObjects = new WeakMap<PublicKey, KeyObject>();
  const keyObject = (key: PublicKey): KeyObject => {
    let ko = keyObjects.get(key);
    if (!ko) {
      ko = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key.bytes).toString('base64url') }, format: 'jwk' });
      keyObjects.set(key, ko);
    }
    return ko;
  };
  return {
    name: 'node:crypto',
    verify: (signature, message, key) => signature.length === 64 && verify(null, message, keyObject(key), signature),
  };
}

/**
 * The fastest available backend, or the one asked for. `node` looks at nothing of sodium-native. `auto`
 * uses libsodium when it is beside the file and passes the self-test, else node:crypto (with one warning
 * when one was found but refused). `sodium` throws when there is none or it is refused.
 */
export function loadVerifier(choice: BackendChoice = 'auto', warn: LoadWarning = warnOnStderr): SignatureVerifier {
  if (choice === 'node') return opensslVerifier();
  const { sodium, found, refused } = sodiumBeside(choice === 'sodium' ? quiet : warn);
  if (sodium) return sodiumVerifier(sodium);
  if (choice === 'sodium') {
    throw new Error(
      refused
        ? `--crypto sodium: sodium-native in ${found} ${refused}`
        : `--crypto sodium: sodium-native is not installed beside the processor (looked in ${sodiumPlaces().join(' and ')}; npm install sodium-native there)`,
    );
  }
  return opensslVerifier();
}
