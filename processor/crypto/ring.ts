/**
 * Signature checks in shared memory. The main thread writes each check into a slot and publishes it;
 * any thread (workers and the main thread alike) claims the next unclaimed slot with one
 * compare-and-swap, verifies it and stores the answer. Nothing is serialised or posted per check, and
 * a faster core simply claims more, so the split follows each core's real speed.
 *
 * Sequence numbers are int32 and wrap; only differences between them are ever compared.
 */
import { admittedKey, sameKeyBytes, type PublicKey } from '../../core/pubkey';
import type { SignatureVerifier } from '../../core/node/verifier';
import { writeLatin1 } from '../../core/node/latin1';

/** Slots in the ring: more than the processor ever has pending (MAX_PENDING), so it never fills in practice. */
const SLOTS = 4096;
const SLOT_BYTES = 256;
/** A check with more keys valid at once, or a longer text, is verified by the caller instead. */
const MAX_KEYS = 4;
const MAX_MESSAGE = 62;
const KEYS_AT = 64;
const COUNT_AT = KEYS_AT + 32 * MAX_KEYS;
const LENGTH_AT = COUNT_AT + 1;
const MESSAGE_AT = LENGTH_AT + 1;

/** Answer of a check not yet verified. Answers are otherwise the index of the key that verified, or -1. */
const PENDING = -2;
const PUBLISHED = 0; // checks written so far
const CLAIMED = 1; // checks taken by some thread
const WAKE = 2; // 1 while the main thread waits for an answer and wants a message when one lands
const STOP = 3;

export interface RingMemory {
  readonly control: SharedArrayBuffer;
  readonly slots: SharedArrayBuffer;
  readonly answers: SharedArrayBuffer;
}

export function allocateRing(): RingMemory {
  return {
    control: new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT),
    slots: new SharedArrayBuffer(SLOTS * SLOT_BYTES),
    answers: new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT),
  };
}

/** What one thread can do with the ring: claim, verify, answer. */
export class RingVerifier {
  protected readonly control: Int32Array;
  protected readonly slots: Buffer;
  protected readonly answers: Int32Array;
  // A private copy of the slot being verified: the crypto cannot read shared memory.
  private readonly scratch = Buffer.allocUnsafeSlow(SLOT_BYTES);
  private readonly signature = this.scratch.subarray(0, 64);
  private readonly messages = Array.from({ length: MAX_MESSAGE + 1 }, (_, n) => this.scratch.subarray(MESSAGE_AT, MESSAGE_AT + n));
  /** Key objects, so backends can cache per key (OpenSSL's KeyObject). */
  private readonly keys: (PublicKey | undefined)[] = new Array(KEY_CACHE_SIZE);

  constructor(
    readonly memory: RingMemory,
    private readonly crypto: SignatureVerifier,
  ) {
    this.control = new Int32Array(memory.control);
    this.slots = Buffer.from(memory.slots);
    this.answers = new Int32Array(memory.answers);
  }

  /** Takes the next unclaimed check, or answers undefined when there is none. */
  claim(): number | undefined {
    for (;;) {
      const c = Atomics.load(this.control, CLAIMED);
      if (((Atomics.load(this.control, PUBLISHED) - c) | 0) <= 0) return undefined;
      if (Atomics.compareExchange(this.control, CLAIMED, c, (c + 1) | 0) === c) return c;
    }
  }

  /** Checks published and not yet claimed. */
  unclaimed(): number {
    return (Atomics.load(this.control, PUBLISHED) - Atomics.load(this.control, CLAIMED)) | 0;
  }

  /** Verifies claimed check `seq` and stores its answer. Returns true when the main thread asked to be told. */
  verify(seq: number): boolean {
    const at = (seq & (SLOTS - 1)) * SLOT_BYTES;
    const s = this.scratch;
    this.slots.copy(s, 0, at, at + SLOT_BYTES);
    const message = this.messages[s[LENGTH_AT]!]!;
    let answer = -1;
    for (let k = 0; k < s[COUNT_AT]!; k++) {
      if (this.crypto.verify(this.signature, message, this.key(KEYS_AT + 32 * k))) {
        answer = k;
        break;
      }
    }
    Atomics.store(this.answers, seq & (SLOTS - 1), answer);
    return Atomics.load(this.control, WAKE) === 1 && Atomics.exchange(this.control, WAKE, 0) === 1;
  }

  /**
   * The key at scratch[at, at + 32), from a direct-mapped cache: no string or map lookup per check.
   * Only the main thread writes slots, and only with keys the registry admitted.
   */
  private key(at: number): PublicKey {
    const s = this.scratch;
    const line = (s[at]! | (s[at + 1]! << 8)) & (KEY_CACHE_SIZE - 1);
    const cached = this.keys[line];
    if (cached && sameKeyBytes(cached.bytes, 0, s, at)) return cached;
    return (this.keys[line] = admittedKey(Uint8Array.prototype.slice.call(s, at, at + 32)));
  }
}

/** Key objects a thread keeps (a power of two): collisions only cost a new object. */
const KEY_CACHE_SIZE = 8192;

/** The main thread's side: it alone writes checks, takes answers and frees slots. */
export class RingWriter extends RingVerifier {
  /** Sequence number of the oldest check whose answer has not been taken. */
  private oldest = 0;
  /** Answers taken ahead of older ones, per slot: their slots free once `oldest` gets there. */
  private readonly taken = new Uint8Array(SLOTS);

  /** Whether every text fits a slot and the ring has a free slot for each. */
  accepts(messages: readonly string[], keyCount: number): boolean {
    return (
      keyCount <= MAX_KEYS &&
      messages.length <= SLOTS - ((Atomics.load(this.control, PUBLISHED) - this.oldest) | 0) &&
      messages.every((m) => m.length <= MAX_MESSAGE)
    );
  }

  /** Writes a check the ring `accepts` (a 64-byte signature), and answers its sequence number: one more than the last one's. */
  submit(signature: Uint8Array, message: string, keys: readonly { readonly key: PublicKey }[]): number {
    const seq = Atomics.load(this.control, PUBLISHED);
    const at = (seq & (SLOTS - 1)) * SLOT_BYTES;
    const s = this.slots;
    s.set(signature, at);
    for (let k = 0; k < keys.length; k++) s.set(keys[k]!.key.bytes, at + KEYS_AT + 32 * k);
    s[at + COUNT_AT] = keys.length;
    s[at + LENGTH_AT] = message.length;
    writeLatin1(message, s, at + MESSAGE_AT); // the bytes an inline check verifies
    Atomics.store(this.answers, seq & (SLOTS - 1), PENDING);
    Atomics.store(this.control, PUBLISHED, (seq + 1) | 0); // publishes the slot's bytes with it
    return seq;
  }

  /** Wakes sleeping workers for what was submitted. */
  notify(): void {
    Atomics.notify(this.control, PUBLISHED);
  }

  /**
   * The answer to check `seq`, or undefined while it is pending. An answer is taken once: its slot may
   * then be reused (a slot is never freed while a thread may still be verifying it).
   */
  take(seq: number): number | undefined {
    const slot = seq & (SLOTS - 1);
    const a = Atomics.load(this.answers, slot);
    if (a === PENDING) return undefined;
    this.taken[slot] = 1;
    while (((Atomics.load(this.control, PUBLISHED) - this.oldest) | 0) > 0 && this.taken[this.oldest & (SLOTS - 1)] === 1) {
      this.taken[this.oldest & (SLOTS - 1)] = 0;
      this.oldest = (this.oldest + 1) | 0;
    }
    return a;
  }

  /**
   * Asks for a message when the next answer lands; true if `seq` was answered meanwhile (then no
   * message may come). Setting the flag before looking again is what makes a lost wake-up impossible.
   */
  armWake(seq: number): boolean {
    Atomics.store(this.control, WAKE, 1);
    return Atomics.load(this.answers, seq & (SLOTS - 1)) !== PENDING;
  }

  /** Verifies, on this thread, every published check nobody has answered (after a worker failed). */
  answerAll(): void {
    for (let seq = this.oldest; ((Atomics.load(this.control, PUBLISHED) - seq) | 0) > 0; seq = (seq + 1) | 0)
      if (Atomics.load(this.answers, seq & (SLOTS - 1)) === PENDING) this.verify(seq);
  }

  stop(): void {
    Atomics.store(this.control, STOP, 1);
    Atomics.notify(this.control, PUBLISHED);
  }
}

/** A worker's loop: claim and verify until stopped, sleeping while there is nothing to claim. */
export function serveRing(ring: RingVerifier, wakeMain: () => void): void {
  const control = new Int32Array(ring.memory.control);
  while (Atomics.load(control, STOP) === 0) {
    const seq = ring.claim();
    if (seq !== undefined) {
      if (ring.verify(seq)) wakeMain();
      continue;
    }
    const published = Atomics.load(control, PUBLISHED);
    if (ring.unclaimed() <= 0) Atomics.wait(control, PUBLISHED, published, 1000);
  }
}
