/**
 * Web Workers that run webcryptoOps. Chromium does all of a page's WebCrypto on one thread, where
 * 10,000 verifications and 10,000 key admissions take about 1.3 s of one core; each worker's WebCrypto
 * runs on threads of its own, so workers spread that over the machine's cores. The plugin is a single
 * AMD module.js, so a worker's script is a Blob of webcryptoOps' own source text: the same code the
 * page runs when it has no workers (a Content-Security-Policy without `blob:`, for one).
 */
import { webcryptoOps, type CryptoOps } from './webcryptoOps';

/** A call: its id and key, then the signature and message of a verification (none for an admission). */
type Call = [id: number, key: Uint8Array, signature?: Uint8Array, message?: Uint8Array];
/** An answer by call id; null when the operation threw. */
type Answer = [id: number, answer: boolean | null];
type Resolve = (answer: boolean | null) => void;

// Calls that arrive together start together (their admissions share one inversion); answers go back as
// they come, those ready in the same task together, so that no call waits for the slowest of its batch.
const WORKER_SOURCE = `"use strict";
const ops = (${webcryptoOps.toString()})(crypto.subtle);
let out = [];
const answer = (id, a) => {
  if (out.length === 0) setTimeout(() => { postMessage(out); out = []; }, 0);
  out.push([id, a]);
};
onmessage = (e) => {
  const admissions = e.data.filter((c) => c.length === 2);
  ops.primeOrder(admissions.map((c) => c[1])).forEach((p, i) => p.then((a) => answer(admissions[i][0], a)));
  for (const [id, key, signature, message] of e.data.filter((c) => c.length === 4))
    ops.verify(key, signature, message).then((a) => answer(id, a), () => answer(id, null));
};`;

/** A worker silent this long while calls wait on it is taken for dead (a crash need not say so). */
const SILENT_MS = 10_000;

class WorkerLane {
  private readonly waiting = new Map<number, Resolve>();
  private broken = false;
  private heard = 0;
  private watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<Answer[]>) => {
      this.heard = Date.now();
      for (const [id, a] of e.data) {
        this.waiting.get(id)?.(a);
        this.waiting.delete(id);
      }
    };
    // A worker that fails (a script the page's policy refuses, a crash) answers nothing more: every call
    // waiting on it, and every later one, gets null, and the caller falls back.
    worker.onerror = worker.onmessageerror = () => this.fail();
  }

  private fail(): void {
    this.broken = true;
    this.waiting.forEach((resolve) => resolve(null));
    this.waiting.clear();
    clearInterval(this.watchdog);
    this.worker.terminate();
  }

  send(calls: ReadonlyArray<readonly [Call, Resolve]>): void {
    if (this.broken) return calls.forEach(([, resolve]) => resolve(null));
    if (this.waiting.size === 0) this.heard = Date.now();
    for (const [[id], resolve] of calls) this.waiting.set(id, resolve);
    this.watchdog ??= setInterval(() => {
      if (this.waiting.size === 0) {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
      } else if (Date.now() - this.heard > SILENT_MS) this.fail();
    }, 1_000);
    this.worker.postMessage(calls.map(([call]) => call));
  }

  stop(): void {
    this.fail();
  }
}

/** CryptoOps whose calls go to the lane `route` picks, those made in the same task in one message per lane. */
function dispatch(lanes: readonly WorkerLane[], route: (key: Uint8Array) => number): CryptoOps {
  let nextId = 0;
  let queued: Array<readonly [Call, Resolve]> = [];
  const flush = () => {
    const taken = queued;
    queued = [];
    const batches = lanes.map((): Array<readonly [Call, Resolve]> => []);
    for (const q of taken) batches[route(q[0][1])]!.push(q);
    batches.forEach((b, i) => b.length && lanes[i]!.send(b));
  };
  const call = (key: Uint8Array, signature?: Uint8Array, message?: Uint8Array) =>
    new Promise<boolean | null>((resolve) => {
      if (queued.length === 0) queueMicrotask(flush);
      queued.push([signature && message ? [nextId++, key, signature, message] : [nextId++, key], resolve]);
    });
  return {
    async verify(key, signature, message) {
      const answer = await call(key, signature, message);
      if (answer === null) throw new Error('the crypto worker could not verify under this key');
      return answer;
    },
    primeOrder: (keys) => keys.map(async (key) => (await call(key)) === true),
  };
}

export interface CryptoWorkers {
  /** Each key's calls go to one worker, which keeps its imported key; keys are dealt to workers in turn. */
  readonly ops: CryptoOps;
  /** The same, one per worker, each sending every call to its own worker: for self-tests. */
  readonly each: readonly CryptoOps[];
  stop(): void;
}

/** `count` workers, or undefined where workers cannot be made. */
export function startCryptoWorkers(count: number): CryptoWorkers | undefined {
  if (typeof Worker === 'undefined' || typeof Blob === 'undefined' || typeof URL.createObjectURL !== 'function') return undefined;
  let lanes: WorkerLane[];
  try {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    lanes = Array.from({ length: count }, () => new WorkerLane(new Worker(url)));
  } catch {
    return undefined;
  }
  const laneOf = new Map<string, number>();
  let dealt = 0;
  return {
    ops: dispatch(lanes, (key) => {
      const id = String.fromCharCode(...key);
      let lane = laneOf.get(id);
      if (lane === undefined) laneOf.set(id, (lane = dealt++ % lanes.length));
      return lane;
    }),
    each: lanes.map((_, i) => dispatch(lanes, () => i)),
    stop: () => lanes.forEach((l) => l.stop()),
  };
}
