/**
 * One metric in, one metric out, in input order: parse, extract, verify, annotate. Lines that are
 * not line protocol (Telegraf never sends any) leave byte-for-byte as they came, with a `W! ` line.
 *
 * Lines are taken a chunk at a time. A chunk with few signatures is verified inline and written at
 * once (a lone metric never waits); a chunk with many is verified on worker threads. Either way
 * verdicts are concluded and written strictly in input order, so replay memory sees readings in the
 * order the device sent them.
 */
import { hasReservedNames, writeAnnotated, writeInserted, type ExtraField } from './annotate';
import { isCommentOrBlank, LineLayout, parseLine } from '../core/lineprotocol/parse';
import { decodeKeyOrTagValue } from '../core/lineprotocol/decode';
import { conclude, judged, judgeRequest, PendingCheck, prepare, type KeyLookup, type Prepared, type Verdict } from './verdict';
import { continueSignatureJob, runLikeliest, type SignatureJob } from '../core/node/signature-job';
import type { SignatureVerifier } from '../core/node/verifier';
import type { VerifyPool } from './crypto/pool';
import type { LastAccepted, Progress } from './last-accepted';
import type { JudgeRequest } from './redis-state';
import type { Logger } from './log';
import type { OutputBuffer } from './output';
import type { ReadingExtractor } from './reading';
import type { Stats } from './stats';
import { FailingDevices } from './failing-devices';
import { OffloadedCheck } from './offload';
import { QuietInput } from './quiet-input';

const HINT_AFTER = 3;
/** Signature checks in one chunk that make the trip to worker threads worth it. */
const POOL_THRESHOLD = 24;
/**
 * Checks the main thread leaves unclaimed per worker when it goes back to read input: enough to keep
 * a worker busy through the next chunk's parsing and a garbage collection or two.
 */
const LEAVE_PER_WORKER = 256;

export interface PipelineDeps {
  readonly extractor: ReadingExtractor;
  readonly keys: KeyLookup;
  readonly memory: LastAccepted;
  readonly crypto: SignatureVerifier;
  readonly pool?: VerifyPool;
  readonly log: Logger;
  readonly out: OutputBuffer;
  readonly stats: Stats;
  /** Exact mode: also write the payload's fields the way json v1 would. */
  readonly expandPayload: boolean;
  /**
   * Shared device memory (--state redis://…): verified readings are judged there, a batch per call,
   * answers in order. Without it, `memory` judges synchronously.
   */
  readonly shared?: { judge(batch: readonly JudgeRequest[]): Promise<Progress[]> };
  /** Called after verdicts were written when a worker's answer landed (outside the input loop). */
  readonly afterAsyncWrite?: () => void;
}

const NO_EXTRA: readonly ExtraField[] = [];

/**
 * A line on its way through: one object per line. Fields are set by name after construction, all
 * present from the start, so every line has the same shape and nothing else is allocated for it.
 */
class LineInFlight {
  /** Undefined when the line is passed through untouched. */
  prepared: Prepared | undefined = undefined;
  /** Exact mode: the payload's fields to add. */
  extra = NO_EXTRA;
  device: string | undefined = undefined;
  /** Insertion points relative to `start`, or -1 when the line must be re-parsed to drop reserved names. */
  tagsAt = -1;
  fieldsAt = -1;
  /** The match of its signature check, once that has run (-1: nothing verified). */
  match = -1;
  /** Its check while it waits in the worker ring. */
  offloaded: OffloadedCheck | undefined = undefined;
  /** With shared memory: waiting for the judge's answer, and the answer. */
  awaiting = false;
  progress: Progress | undefined = undefined;

  constructor(
    public buf: Uint8Array,
    public start: number,
    public end: number,
  ) {}

  /** The signature check this line needs, if any. */
  get pendingCheck(): PendingCheck | undefined {
    return this.prepared instanceof PendingCheck ? this.prepared : undefined;
  }
}

export class Pipeline {
  private readonly layout = new LineLayout();
  private readonly hinted = new Set<string>();
  /** Devices whose readings stopped verifying: what more checking they may cost, and when to hint at a new key. */
  private readonly failing = new FailingDevices();
  private readonly chunk: LineInFlight[] = [];
  private readonly queue: LineInFlight[] = [];
  /** With shared memory: lines whose checks are done, in order, some waiting for the judge. */
  private readonly judging: LineInFlight[] = [];
  private idleWaiters: (() => void)[] = [];
  /** Once input rests, the main thread verifies what the workers have not claimed: a burst's last lines do not wait for one worker. */
  private readonly rest = new QuietInput(() => {
    this.d.pool?.verifyHere(0);
    this.writeAsync();
  });

  constructor(private readonly d: PipelineDeps) {
    d.pool?.onAnswered(() => this.writeAsync());
  }

  /** Metrics taken but not yet written. */
  get pending(): number {
    return this.queue.length + this.chunk.length + this.judging.length;
  }

  /** Takes buf[start, end), the bytes of one metric without its newline. Never throws on input. */
  line(buf: Uint8Array, start: number, end: number): void {
    if (isCommentOrBlank(buf, start, end)) return void this.chunk.push(new LineInFlight(buf, start, end));
    const error = parseLine(buf, start, end, this.layout);
    if (error !== null) {
      this.d.stats.invalidLines++;
      this.d.log.limited(
        'W',
        'invalid-line',
        `passing through a line that is not valid line protocol (${error}): ${preview(buf, start, end)}`,
      );
      return void this.chunk.push(new LineInFlight(buf, start, end));
    }
    let prepared: Prepared;
    let extra = NO_EXTRA;
    let device: string | undefined;
    try {
      const x = this.d.extractor.extract(buf, this.layout);
      if (x.status === 'candidate') device = x.device;
      if (x.payloadFields && this.d.expandPayload) extra = this.expansion(buf, x.payloadFields);
      prepared = prepare(x, this.d.keys, this.d.memory, this.failing);
    } catch (e) {
      prepared = this.internalError(e, buf, start, end);
    }
    const e = new LineInFlight(buf, start, end);
    e.prepared = prepared;
    e.extra = extra;
    e.device = device;
    e.tagsAt = hasReservedNames(buf, this.layout) ? -1 : this.layout.tagSetEnd - start;
    e.fieldsAt = this.layout.fieldSetEnd - start;
    this.chunk.push(e);
  }

  /**
   * Ends a chunk: the buffers its lines point into may be reused after this returns, so lines that
   * must wait for worker threads are copied first.
   */
  endChunk(): void {
    const entries = this.chunk.splice(0);
    let jobs = 0;
    for (const e of entries) if (e.pendingCheck) jobs++;
    const pool = this.d.pool;
    const idle = this.queue.length === 0;
    if (!pool?.usable || (idle && jobs < POOL_THRESHOLD)) {
      for (const e of entries) if (e.pendingCheck) e.match = this.inline(e, e.pendingCheck, runLikeliest);
      if (idle) return this.write(entries, false); // nothing earlier is waiting: no copy
    } else {
      for (const e of entries) {
        const job = e.pendingCheck;
        if (!job) continue;
        e.offloaded = OffloadedCheck.start(job, pool);
        if (!e.offloaded) e.match = this.inline(e, job, runLikeliest);
      }
      pool.publish();
      // The main thread verifies too, leaving the workers enough to go on with while it reads on.
      pool.verifyHere(LEAVE_PER_WORKER * pool.readyThreads);
      this.rest.chunk();
    }
    keep(entries);
    for (const e of entries) this.queue.push(e);
    // No wake-up asked for: the next chunk drains again, and when input rests the rest watch does.
    this.drainQueue(false);
  }

  /** Resolves once every line taken so far has been written; the main thread verifies what is left meanwhile. */
  idle(): Promise<void> {
    this.d.pool?.verifyHere(0);
    this.drainQueue(true);
    return this.pending === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  /** Writes what is ready, outside the input loop. */
  private writeAsync(): void {
    this.drainQueue(true);
    this.d.out.flush();
    this.d.afterAsyncWrite?.();
  }

  /** Runs (part of) an entry's check on this thread; a bug fails closed instead of costing the metric. */
  private inline(e: LineInFlight, job: SignatureJob, run: (job: SignatureJob, crypto: SignatureVerifier) => number): number {
    try {
      return run(job, this.d.crypto);
    } catch (err) {
      this.internalError(err, e.buf, e.start, e.end);
      return -1;
    }
  }

  /**
   * Writes the settled head of the queue. With `wake`, a worker's answer to the first unsettled line
   * sends a message (`onAnswered` drains again). Under bulk input the next chunk drains instead, which
   * spares a message, an event and a small write per chunk.
   */
  private drainQueue(wake: boolean): void {
    let n = 0;
    while (n < this.queue.length && this.settle(this.queue[n]!, wake)) n++;
    // Written lines leave the queue at once: held there, they would survive into the old generation.
    this.write(this.queue.splice(0, n), true);
    if (this.pending === 0) this.idleWaiters.splice(0).forEach((r) => r());
  }

  /** True when the entry's check is done; takes the workers' answers if they have landed. */
  private settle(e: LineInFlight, wake: boolean): boolean {
    if (!e.offloaded) return true;
    const match = e.offloaded.poll(wake);
    if (match === undefined) return false;
    e.match = match;
    e.offloaded = undefined;
    return true;
  }

  /**
   * Concludes and writes entries whose checks are done, in order; `owned` when their bytes are
   * their own (copied), so they may wait.
   */
  private write(entries: readonly LineInFlight[], owned: boolean): void {
    if (this.d.shared) return this.writeShared(entries, owned);
    this.writeNow(entries);
  }

  /**
   * Shared memory: the verified readings of `entries` go to the judge as one batch; lines are written
   * when the answers return, strictly in input order behind whatever waits already.
   */
  private writeShared(entries: readonly LineInFlight[], owned: boolean): void {
    const batch: JudgeRequest[] = [];
    const asked: LineInFlight[] = [];
    for (const e of entries) {
      const p = e.prepared;
      if (!(p instanceof PendingCheck)) continue;
      if (e.match < 0) e.match = this.inline(e, p, continueSignatureJob);
      if (e.match < 0) continue;
      e.awaiting = true;
      asked.push(e);
      batch.push(judgeRequest(p, e.match));
    }
    if (batch.length === 0 && this.judging.length === 0) return this.writeNow(entries);
    if (!owned) keep(entries);
    for (const e of entries) this.judging.push(e);
    if (batch.length === 0) return;
    this.d.shared!.judge(batch).then(
      (answers) => {
        for (let i = 0; i < asked.length; i++) {
          asked[i]!.progress = answers[i]!;
          asked[i]!.awaiting = false;
        }
        this.writeJudged();
      },
      (err: unknown) => {
        // Never expected (the judge falls back by itself): fail closed rather than lose the metrics.
        for (const e of asked) {
          this.internalError(err, e.buf, e.start, e.end);
          e.prepared = { verdict: { status: 'malformed', detail: `internal error: ${(err as Error).message}` } };
          e.awaiting = false;
        }
        this.writeJudged();
      },
    );
  }

  /** Writes the judged head of the waiting lines. */
  private writeJudged(): void {
    let n = 0;
    while (n < this.judging.length && !this.judging[n]!.awaiting) n++;
    this.writeNow(this.judging.splice(0, n));
    this.d.out.flush();
    this.d.afterAsyncWrite?.();
    if (this.pending === 0) this.idleWaiters.splice(0).forEach((r) => r());
  }

  private writeNow(entries: readonly LineInFlight[]): void {
    const { out, log, stats, memory } = this.d;
    for (const e of entries) {
      const { prepared, extra, device, tagsAt, fieldsAt } = e;
      if (!prepared) {
        out.bytes(e.buf, e.start, e.end);
        out.byte(0x0a);
        continue;
      }
      // The rarer texts run here, in input order, so whether the device is failing is known for certain.
      if (prepared instanceof PendingCheck && e.match < 0) e.match = this.inline(e, prepared, continueSignatureJob);
      const verdict: Verdict =
        prepared instanceof PendingCheck
          ? e.progress === undefined
            ? conclude(prepared, e.match, memory)
            : judged(prepared, e.match, e.progress, memory)
          : prepared.verdict;
      stats.count(verdict.status, device);
      if (verdict.detail) log.limited('W', verdict.status, verdict.detail);
      if (device !== undefined) this.trackKeyHealth(device, verdict.status);
      if (tagsAt >= 0)
        writeInserted(out, e.buf, e.start, e.end, e.start + tagsAt, e.start + fieldsAt, verdict.status, verdict.signedMessage, extra);
      else {
        parseLine(e.buf, e.start, e.end, this.layout); // parsed before, but the layout was reused since
        writeAnnotated(out, e.buf, e.start, e.end, this.layout, verdict.status, verdict.signedMessage, extra);
      }
    }
  }

  /**
   * Payload fields json v1 would have written (already only names that are written as they read and
   * are not meterproof's), minus names the metric already has.
   */
  private expansion(buf: Uint8Array, fields: readonly ExtraField[]): ExtraField[] {
    const l = this.layout;
    const present = new Set<string>();
    for (let f = 0; f < l.fieldCount; f++) present.add(decodeKeyOrTagValue(buf, l.fieldKeyStart[f]!, l.fieldKeyEnd[f]!));
    return fields.filter(([k]) => !present.has(k));
  }

  private internalError(e: unknown, buf: Uint8Array, start: number, end: number): Prepared {
    // A bug must not cost a metric: fail closed and keep going.
    const detail = `internal error: ${(e as Error).message}`;
    this.d.log.limited('E', 'internal', `${detail} on: ${preview(buf, start, end)}`);
    return { verdict: { status: 'malformed', detail } };
  }

  private trackKeyHealth(device: string, status: Verdict['status']): void {
    // A run of bad signatures, not one tampered reading, suggests a new key.
    if (this.failing.record(device, status) < HINT_AFTER || this.hinted.has(device)) return;
    this.hinted.add(device);
    this.d.log.log(
      'W',
      `device "${device}": readings do not verify with its registered key. If the plug was hard-reset (seven power cycles) it ` +
        `generated a new key: read it from the plug's Information page and run \`meterproof keys rotate --keys <key file> ` +
        `--device ${device} --key <new key> --at <reset time>\`; the processor reloads the file.`,
    );
  }
}

/** Gives waiting lines their own copy of their bytes: one copy per underlying buffer, not per line. */
function keep(entries: readonly LineInFlight[]): void {
  let i = 0;
  while (i < entries.length) {
    const buf = entries[i]!.buf;
    let j = i;
    while (j < entries.length && entries[j]!.buf === buf) j++;
    const from = entries[i]!.start,
      to = entries[j - 1]!.end;
    const copy = Uint8Array.prototype.slice.call(buf, from, to); // a copy even for a Buffer, whose slice() is a view
    for (let k = i; k < j; k++) {
      const e = entries[k]!;
      e.buf = copy;
      e.start -= from;
      e.end -= from;
    }
    i = j;
  }
}

function preview(buf: Uint8Array, start: number, end: number): string {
  const n = Math.min(end - start, 200);
  return Buffer.from(buf.buffer, buf.byteOffset + start, n).toString('utf8') + (end - start > n ? '…' : '');
}
