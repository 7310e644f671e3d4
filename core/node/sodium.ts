/**
 * Finding and trusting libsodium (`sodium-native`). It is looked for only beside the running file, never
 * along Node's module path, and used only once it has passed the self-test (docs/design.md §5): the
 * self-test shows the loaded code answers known inputs right; the trust comes from where it is loaded from.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hexToBytes } from '../pubkey';

/** The two libsodium calls meterproof makes, however sodium-native was reached. */
export interface Sodium {
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  isValidPoint(point: Uint8Array): boolean;
}

const requireHere = createRequire(import.meta.url);

/**
 * The sodium-native folders looked in, in order; the first that holds a package.json is the one used
 * (a later one is not tried, even when the first is refused). Bundled (dist/processor.js, and the CLI
 * beside it), for a file in folder D: `D/node_modules/sodium-native` (the file copied elsewhere with
 * `npm install sodium-native` run beside it), then `D/../node_modules/sodium-native` (the npm layout:
 * /opt/meterproof/node_modules for /opt/meterproof/dist/processor.js). From source (the tests) this
 * file is core/node/sodium.ts and the one place is the repository's node_modules. Nothing else: not
 * NODE_PATH, ~/.node_modules, folders further up, or the current directory.
 */
export function sodiumPlaces(file: string = fileURLToPath(import.meta.url)): string[] {
  const dir = dirname(file);
  const roots = file.endsWith('.ts') ? [join(dir, '..', '..')] : [dir, join(dir, '..')];
  return roots.map((root) => join(root, 'node_modules', 'sodium-native'));
}

/** The addon's own entry points, as sodium-native 5 built them: buffers go as (ArrayBuffer, offset, length). */
interface SodiumAddon {
  crypto_sign_verify_detached(
    s: ArrayBufferLike,
    so: number,
    sl: number,
    m: ArrayBufferLike,
    mo: number,
    ml: number,
    pk: ArrayBufferLike,
    po: number,
    pl: number,
  ): unknown;
  crypto_core_ed25519_is_valid_point(p: Uint8Array): unknown;
}

/**
 * The package's prebuilt addon for this platform, loaded by its path without the package's resolver,
 * which costs about 30 ms of start-up (six modules and a semver parser) for a path that is fixed per
 * platform. Undefined when there is none (musl, a source build) or it does not load.
 */
function viaAddon(pkg: string): Sodium | undefined {
  const file = join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'sodium-native.node');
  if (!existsSync(file)) return undefined;
  let addon: SodiumAddon;
  try {
    addon = requireHere(file) as SodiumAddon;
  } catch {
    return undefined;
  }
  return {
    // The addon asserts (aborts) on wrong sizes, so sizes are checked here; it answers non-booleans for
    // buffers it cannot read (a SharedArrayBuffer), which `=== true` turns into a rejection.
    verify: (s, m, pk) =>
      s.byteLength === 64 &&
      pk.byteLength === 32 &&
      addon.crypto_sign_verify_detached(s.buffer, s.byteOffset, 64, m.buffer, m.byteOffset, m.byteLength, pk.buffer, pk.byteOffset, 32) ===
        true,
    isValidPoint: (p) => p.byteLength === 32 && addon.crypto_core_ed25519_is_valid_point(p) === true,
  };
}

/**
 * The package's public module (its package.json `main`: argument checks around the addon). The trailing
 * separator makes Node load the folder as a package and nothing else. The package's own dependencies
 * (require-addon, which-runtime) resolve from its folder, where npm puts them beside it. Throws when
 * the package does not load.
 */
function viaPackage(pkg: string): Sodium {
  const m = requireHere(pkg + sep) as {
    crypto_sign_verify_detached(s: Uint8Array, m: Uint8Array, pk: Uint8Array): unknown;
    crypto_core_ed25519_is_valid_point(p: Uint8Array): unknown;
  };
  return {
    verify: (s, msg, pk) => m.crypto_sign_verify_detached(s, msg, pk) === true,
    isValidPoint: (p) => m.crypto_core_ed25519_is_valid_point(p) === true,
  };
}

// RFC 8032 §7.1 TEST 2, and the identity point (small order: under it R = identity, S = 0 signs anything).
const SELF_TEST = {
  key: hexToBytes('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'),
  message: Uint8Array.of(0x72),
  signature: hexToBytes(
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  ),
  identity: hexToBytes('0100000000000000000000000000000000000000000000000000000000000000'),
};

/** What the self-test checks, for messages. */
export const SELF_TEST_SCOPE = 'an RFC 8032 signature, the same with a bit flipped or over another message, and a small-order key';

/**
 * The self-test every route to libsodium passes before it is used: RFC 8032 §7.1 TEST 2 verifies;
 * the same signature with a bit flipped, or over another message, does not; the key is a valid point
 * and the identity is not; R = identity, S = 0 does not verify under the identity key. It shows that the
 * code loaded verifies and refuses these inputs, not that it has no bug or backdoor sparing them.
 */
export function passesSelfTest(s: Sodium): boolean {
  const { key, message, signature, identity } = SELF_TEST;
  const forged = signature.slice();
  forged[0]! ^= 1;
  const identitySignature = new Uint8Array(64);
  identitySignature.set(identity);
  try {
    return (
      s.verify(signature, message, key) === true &&
      s.verify(forged, message, key) === false &&
      s.verify(signature, Uint8Array.of(0x73), key) === false &&
      s.verify(identitySignature, message, identity) === false &&
      s.isValidPoint(key) === true &&
      s.isValidPoint(identity) === false
    );
  } catch {
    return false; // another build, with other entry points
  }
}

export interface SodiumLoad {
  /** libsodium, having passed the self-test; undefined when none is beside the file or it was refused. */
  readonly sodium?: Sodium;
  /** The sodium-native folder found, if any. */
  readonly found?: string;
  /** Why the one found is not used. */
  readonly refused?: string;
}

const firstLine = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).split('\n')[0]!.replace(/[\u0000-\u001f\u007f]/g, ' ');

/**
 * libsodium from the first of `places` that holds sodium-native: its prebuilt addon directly when that
 * passes the self-test (the fast path), else the package's public module when that passes it.
 */
export function loadSodium(places: readonly string[] = sodiumPlaces()): SodiumLoad {
  const found = places.find((p) => existsSync(join(p, 'package.json')));
  if (found === undefined) return {};
  const addon = viaAddon(found);
  if (addon && passesSelfTest(addon)) return { sodium: addon, found };
  let module: Sodium;
  try {
    module = viaPackage(found);
  } catch (e) {
    return { found, refused: `could not be loaded (${firstLine(e)})` };
  }
  if (!passesSelfTest(module)) return { found, refused: `failed its self-test (${SELF_TEST_SCOPE})` };
  return { sodium: module, found };
}

/** Both routes to libsodium in the first of `places` holding it, each only if it passes the self-test (for tests). */
export function sodiumRoutes(places: readonly string[] = sodiumPlaces()): { addon?: Sodium; module?: Sodium } {
  const found = places.find((p) => existsSync(join(p, 'package.json')));
  if (found === undefined) return {};
  const addon = viaAddon(found);
  let module: Sodium | undefined;
  try {
    module = viaPackage(found);
  } catch {
    module = undefined;
  }
  return {
    ...(addon && passesSelfTest(addon) && { addon }),
    ...(module && passesSelfTest(module) && { module }),
  };
}
