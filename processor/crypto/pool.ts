/**
 * Worker threads that verify signatures from the shared ring (./ring.ts) while the main thread parses,
 * helps verify, and writes. The worker runs this same file (dist/processor.js stays one file).
 */
import type { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type { PublicKey } from '../../core/pubkey';
import { allocateRing, RingVerifier, RingWriter, serveRing, type RingMemory } from './ring';
import { loadVerifier, type BackendChoice, type SignatureVerifier } from '../../core/node/verifier';

const WORKER_ROLE = 'meterproof-verifier';
/** In a worker's argv, so the main thread can tell it is not one without loading worker_threads. */
const WORKER_ARG = '--meterproof-verify-worker';
/** A worker's first message: its verifier is loaded and it serves the ring. Every later one is an answer. */
const READY = 'ready';
// Loaded on first use: a processor that never starts a worker does not pay for the module.
const workerThreads = (): typeof import('node:worker_threads') =>
  createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');

interface WorkerData {
  readonly role: typeof WORKER_ROLE;
  readonly backend: BackendChoice;
  readonly ring: RingMemory;
}

export class VerifyPool {
  private readonly workers: Worker[] = [];
  private ready = 0;
  private readonly ring: RingWriter;
  private failed = false;
  private closing = false;
  private onAnswer: () => void = () => {};

  private readonly size: number;
  private readonly backend: BackendChoice;
  private readonly script: string;
  private readonly onFailure: (e: Error) => void;

  constructor(o: {
    /** Worker threads to start (on first use). */
    readonly workers: number;
    /** The backend each worker loads for itself. */
    readonly backend: BackendChoice;
    /** The file the workers run: dist/processor.js itself. */
    readonly script: string;
    /** This thread's verifier, for the checks it takes itself. */
    readonly crypto: SignatureVerifier;
    /** Called once when a worker fails; checks then run inline. */
    readonly onFailure: (e: Error) => void;
  }) {
    this.size = o.workers;
    this.backend = o.backend;
    this.script = o.script;
    this.onFailure = o.onFailure;
    this.ring = new RingWriter(allocateRing(), o.crypto);
  }

  get threads(): number {
    return this.size;
  }

  /**
   * Workers that serve the ring. A worker takes tens of milliseconds to start and load libsodium: until
   * it says so, the main thread keeps every check, so a small burst never waits for a cold thread.
   */
  get readyThreads(): number {
    return this.ready;
  }

  /** False once a worker has failed: callers then verify inline. */
  get usable(): boolean {
    return !this.failed;
  }

  /** Called when an answer the main thread waits for has landed (see `waitFor`). */
  onAnswered(fn: () => void): void {
    this.onAnswer = fn;
  }

  /**
   * Queues a check of each text against the keys in turn. Their sequence numbers run on from the one
   * answered (wrapping as int32); undefined, having queued none, when they do not all fit (then verify inline).
   */
  submitAll(signature: Uint8Array, messages: readonly string[], keys: readonly { readonly key: PublicKey }[]): number | undefined {
    if (this.failed || signature.length !== 64 || messages.length === 0 || !this.ring.accepts(messages, keys.length)) return undefined;
    if (this.workers.length === 0) this.start();
    const first = this.ring.submit(signature, messages[0]!, keys);
    for (let m = 1; m < messages.length; m++) this.ring.submit(signature, messages[m]!, keys);
    return first;
  }

  /** Wakes the workers for everything submitted so far. */
  publish(): void {
    this.ring.notify();
  }

  /** Verifies on the calling thread while more than `leave` checks wait unclaimed. */
  verifyHere(leave: number): void {
    while (this.ring.unclaimed() > leave) {
      const seq = this.ring.claim();
      if (seq === undefined) return;
      this.ring.verify(seq);
    }
  }

  /** Index of the first key that verified, or -1 for none; undefined while pending. Each answer is taken once. */
  take(seq: number): number | undefined {
    return this.ring.take(seq);
  }

  /** Asks for `onAnswered` when the next answer lands; true if `seq` is already answered. */
  waitFor(seq: number): boolean {
    return this.ring.armWake(seq);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.ring.stop();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private start(): void {
    const { Worker } = workerThreads();
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(this.script, {
        argv: [WORKER_ARG],
        workerData: { role: WORKER_ROLE, backend: this.backend, ring: this.ring.memory } satisfies WorkerData,
        // Verifying needs little heap; V8's defaults would reserve tens of MB per thread.
        resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
      });
      w.on('message', (m) => (m === READY ? this.ready++ : this.onAnswer()));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => this.fail(new Error(`exited with code ${code}`)));
      this.workers.push(w);
    }
  }

  /** A worker died (out of memory, a bug): stop using threads and answer every outstanding check here. */
  private fail(e: Error): void {
    if (this.failed || this.closing) return;
    this.failed = true;
    this.onFailure(e);
    void this.close();
    this.ring.answerAll();
    this.onAnswer();
  }
}

/** The worker side: serve the ring until stopped. */
export function runVerifyWorker(): void {
  const { workerData, parentPort } = workerThreads();
  const { backend, ring } = workerData as WorkerData;
  // The worker loads and self-tests libsodium for itself; the main thread has already said why one found is refused.
  const quiet = (): void => {};
  const verifier = new RingVerifier(ring, loadVerifier(backend, quiet));
  parentPort!.postMessage(READY);
  serveRing(verifier, () => parentPort!.postMessage(0));
}

/** True on a verification worker thread. */
export function isVerifyWorker(): boolean {
  if (!process.argv.includes(WORKER_ARG)) return false;
  const { isMainThread, workerData } = workerThreads();
  return !isMainThread && (workerData as Partial<WorkerData> | null)?.role === WORKER_ROLE;
}
