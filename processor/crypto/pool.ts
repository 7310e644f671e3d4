/**
 * Signature checks on worker threads, for when input arrives faster than one core verifies. Jobs
 * travel in packed batches (one transfer, not one message per metric); results come back per batch
 * and the caller puts them in order. The worker runs this same file (dist/processor.js stays one file).
 */
import { Worker, parentPort, workerData } from 'node:worker_threads';
import type { PublicKey } from '../../core/pubkey';
import { runSignatureJob, type SignatureJob } from '../verdict';
import { loadVerifier, type BackendChoice } from './verifier';

interface BatchRequest {
  readonly id: number;
  readonly signatures: Uint8Array; // 64 bytes per job
  readonly messages: readonly string[]; // every job's candidate messages, in job order (never joined: any byte may occur)
  readonly messageCounts: Uint16Array;
  readonly keys: string; // every job's key hex, concatenated
  readonly keyCounts: Uint16Array;
}

interface BatchResult { readonly id: number; readonly matches: Int32Array }

export const WORKER_ROLE = 'meterproof-verifier';
/** Keys a worker keeps objects for: the active devices of a large fleet, within the worker's heap limit. */
const KEY_CACHE_SIZE = 20_000;

export class VerifyPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { jobs: readonly SignatureJob[]; done: (matches: Int32Array) => void }>();
  private failed = false;
  private nextId = 0;
  private next = 0;

  constructor(
    private readonly size: number,
    private readonly backend: BackendChoice,
    private readonly script: string,
    /** Verifies inline: the fallback when a worker fails, so no metric is lost with it. */
    private readonly inline: (job: SignatureJob) => number,
    private readonly onFailure: (e: Error) => void,
  ) {}

  get threads(): number {
    return this.size;
  }

  /** False once a worker has failed: callers then verify inline. */
  get usable(): boolean {
    return !this.failed;
  }

  /** Verifies `jobs` on the workers (started on first use, so start-up stays fast). */
  run(jobs: readonly SignatureJob[], done: (matches: Int32Array) => void): void {
    if (this.workers.length === 0) this.start();
    const id = this.nextId++;
    this.pending.set(id, { jobs, done });
    const req = pack(id, jobs);
    this.workers[this.next++ % this.workers.length]!.postMessage(req, [req.signatures.buffer as ArrayBuffer, req.messageCounts.buffer as ArrayBuffer, req.keyCounts.buffer as ArrayBuffer]);
  }

  close(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.terminate()));
  }

  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(this.script, {
        workerData: { role: WORKER_ROLE, backend: this.backend },
        // Verifying needs little heap; V8's defaults would reserve tens of MB per thread.
        resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 48 },
      });
      w.on('message', (r: BatchResult) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        p.done(r.matches);
      });
      w.on('error', (e) => this.fail(e));
      this.workers.push(w);
    }
  }

  /** A worker died (out of memory, a bug): stop using threads and finish every batch inline, in order of submission. */
  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.onFailure(e);
    void this.close();
    const outstanding = [...this.pending.values()];
    this.pending.clear();
    for (const p of outstanding) p.done(Int32Array.from(p.jobs, (j) => this.inline(j)));
  }
}

function pack(id: number, jobs: readonly SignatureJob[]): BatchRequest {
  const n = jobs.length;
  const signatures = new Uint8Array(64 * n);
  const messageCounts = new Uint16Array(n);
  const keyCounts = new Uint16Array(n);
  const messages: string[] = [];
  const keys: string[] = [];
  jobs.forEach((j, i) => {
    signatures.set(j.signature, 64 * i);
    messageCounts[i] = j.messages.length;
    keyCounts[i] = j.keys.length;
    messages.push(...j.messages);
    for (const k of j.keys) keys.push(k.key.hex);
  });
  return { id, signatures, messages, messageCounts, keys: keys.join(''), keyCounts };
}

/** The worker side: unpack, verify, answer. */
export function runVerifyWorker(): void {
  const crypto = loadVerifier((workerData as { backend: BackendChoice }).backend);
  // Stable key objects, so backends can cache per key (OpenSSL's KeyObject).
  const keyCache = new Map<string, PublicKey>();
  const keyFor = (hex: string): PublicKey => {
    let k = keyCache.get(hex);
    if (!k) {
      if (keyCache.size >= KEY_CACHE_SIZE) keyCache.clear();
      k = { hex, bytes: Buffer.from(hex, 'hex') };
      keyCache.set(hex, k);
    }
    return k;
  };
  parentPort!.on('message', (req: BatchRequest) => {
    const n = req.messageCounts.length;
    const matches = new Int32Array(n);
    const messages = req.messages;
    let m = 0, k = 0;
    for (let i = 0; i < n; i++) {
      const mc = req.messageCounts[i]!, kc = req.keyCounts[i]!;
      const keys = [];
      for (let j = 0; j < kc; j++, k++) keys.push({ key: keyFor(req.keys.slice(64 * k, 64 * k + 64)), revoked: false });
      matches[i] = runSignatureJob({ signature: req.signatures.subarray(64 * i, 64 * i + 64), messages: messages.slice(m, m + mc), keys }, crypto);
      m += mc;
    }
    parentPort!.postMessage({ id: req.id, matches } satisfies BatchResult, [matches.buffer]);
  });
}

export const isVerifyWorker = (): boolean => (workerData as { role?: string } | null)?.role === WORKER_ROLE;
