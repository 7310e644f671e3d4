/**
 * Key admission for the browser re-check, paid only for the keys a re-check uses and once per key for
 * the page's life. Strict admission (a canonical encoding of a prime-order point) costs about a
 * millisecond a key in JavaScript (core/pubkey, noble), almost all of it the subgroup check; WebCrypto
 * answers it with one X25519 in about 60 µs, off the page's thread (webcryptoOps.ts), where it passed
 * its self-test. A key WebCrypto refuses still goes to noble, which says why, and whose answer stands.
 *
 * The key list is parsed at once (its shape, hex and validity windows), but a key is admitted when a
 * device's keys are first looked up. The verdict is kept per key, by its 32 bytes: admission is a
 * function of those bytes alone, so an auto-refresh, a re-fetched list with the same text, or a new
 * list sharing keys reuses it, and a key the list no longer names is simply never asked about. The
 * verdicts live in this module's closure only, never in storage another script of the page could
 * write (sessionStorage, IndexedDB): such a script could at most do what it can do anyway while the
 * page is open, and nothing it did would outlive the page.
 */
import { parseKeyFile, type KeyEntry, type KeyFile, type KeyProblem } from '../../core/keyfile';
import { admitKeyBytes, KeyRejected, type PublicKey } from '../../core/pubkey';
import { cryptoEngine } from './cryptoEngine';

/** Strict admission's answer per key (lowercase hex), for the page's life. */
const verdicts = new Map<string, string | null>();
/** WebCrypto's admissions under way, so that lanes asking for the same key wait for one answer. */
const underWay = new Map<string, Promise<void>>();
let admissions = 0;

/**
 * Admits the keys this page has no verdict on yet with WebCrypto, all at once, when it passed its
 * self-test; the keys it refuses, and every key without it, are left to noble (`refusal`).
 */
async function admitWithWebCrypto(keys: readonly PublicKey[]): Promise<void> {
  const unknown = keys.filter((k) => !verdicts.has(k.hex));
  if (unknown.length === 0) return;
  const engine = await cryptoEngine();
  if (engine.verifier !== 'webcrypto' || !engine.admitsKeys) return;
  const fresh = unknown.filter((k) => !underWay.has(k.hex));
  engine.ops.primeOrder(fresh.map((k) => k.bytes)).forEach((answer, i) => {
    const k = fresh[i]!;
    underWay.set(
      k.hex,
      answer.then((accepted) => {
        underWay.delete(k.hex);
        if (accepted && !verdicts.has(k.hex)) {
          admissions++;
          verdicts.set(k.hex, null);
        }
      }),
    );
  });
  await Promise.all(unknown.map((k) => underWay.get(k.hex)));
}

/** Null when strict admission accepts the key, else why it refuses it; each key is admitted once. */
function refusal(key: PublicKey): string | null {
  let why = verdicts.get(key.hex);
  if (why === undefined) {
    admissions++;
    try {
      admitKeyBytes(key.bytes);
      why = null;
    } catch (e) {
      if (!(e instanceof KeyRejected)) throw e;
      why = e.message;
    }
    verdicts.set(key.hex, why);
  }
  return why;
}

/** Whether strict admission accepts the key (admitting it now if this page has not yet). */
export const admitted = (key: PublicKey): boolean => refusal(key) === null;

/** How many keys this page has admitted so far (tests and the bench: a refresh must not add any). */
export const admissionsSoFar = (): number => admissions;

// Tells parseKeyFile that a key is admitted, so that it only checks the shape: AdmittedOnLookup, which
// alone ever holds its result, then admits each key before handing it out.
const LATER = (): boolean => true;

/**
 * A key file whose keys are admitted when a device is looked up: lookups give only admitted entries,
 * and a device none of whose keys is admitted is absent, as parseKeyFile leaves it. Counting or
 * listing everything admits every key.
 */
class AdmittedOnLookup implements ReadonlyMap<string, readonly KeyEntry[]> {
  private readonly lists = new Map<string, readonly KeyEntry[] | null>();
  constructor(private readonly unchecked: ReadonlyMap<string, readonly KeyEntry[]>) {}

  get(device: string): readonly KeyEntry[] | undefined {
    let list = this.lists.get(device);
    if (list === undefined) {
      const all = this.unchecked.get(device);
      if (!all) return undefined;
      const kept = all.every((e) => admitted(e.key)) ? all : all.filter((e) => admitted(e.key));
      list = kept.length ? kept : null;
      this.lists.set(device, list);
    }
    return list ?? undefined;
  }

  /** Admits the device's keys with WebCrypto where it can (get() then finds them decided). */
  async admit(device: string): Promise<void> {
    const all = this.unchecked.get(device);
    if (all && !this.lists.has(device)) await admitWithWebCrypto(all.map((e) => e.key));
  }

  has(device: string): boolean {
    return this.get(device) !== undefined;
  }

  get size(): number {
    let n = 0;
    for (const device of this.unchecked.keys()) if (this.has(device)) n++;
    return n;
  }

  *entries(): MapIterator<[string, readonly KeyEntry[]]> {
    for (const device of this.unchecked.keys()) {
      const list = this.get(device);
      if (list) yield [device, list];
    }
  }

  *keys(): MapIterator<string> {
    for (const [device] of this.entries()) yield device;
  }

  *values(): MapIterator<readonly KeyEntry[]> {
    for (const [, list] of this.entries()) yield list;
  }

  forEach(fn: (value: readonly KeyEntry[], key: string, map: ReadonlyMap<string, readonly KeyEntry[]>) => void): void {
    for (const [device, list] of this.entries()) fn(list, device, this);
  }

  [Symbol.iterator](): MapIterator<[string, readonly KeyEntry[]]> {
    return this.entries();
  }

  /** The refusals parseKeyFile would have listed for the keys it left to this map. */
  refusals(): KeyProblem[] {
    const out: KeyProblem[] = [];
    for (const [device, all] of this.unchecked) {
      all.forEach((e, i) => {
        const why = refusal(e.key);
        if (why !== null) out.push({ device, reason: `device "${device}"${all.length > 1 ? ` key #${i + 1}` : ''}: key ${why}` });
      });
    }
    return out;
  }
}

/** The device's admitted keys, as `keys.devices.get(device)` gives them, admitted with WebCrypto where it can. */
export async function admittedKeysOf(keys: KeyFile, device: string): Promise<readonly KeyEntry[] | undefined> {
  if (keys.devices instanceof AdmittedOnLookup) await keys.devices.admit(device);
  return keys.devices.get(device);
}

/**
 * Parses a key list as parseKeyFile does (throwing KeyFileError where it does), with each key admitted
 * on first lookup instead of all of them up front.
 */
export function parseKeyListLazily(text: string): KeyFile {
  const shaped = parseKeyFile(text, LATER);
  const devices = new AdmittedOnLookup(shaped.devices);
  return {
    devices,
    get keyCount() {
      let n = 0;
      for (const list of devices.values()) n += list.length;
      return n;
    },
    get rejected() {
      return [...shaped.rejected, ...devices.refusals()];
    },
  };
}
