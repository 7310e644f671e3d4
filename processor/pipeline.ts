/**
 * One metric in, one metric out, in order: parse, extract, verify, annotate. Lines that are not
 * line protocol (Telegraf never sends any) leave byte-for-byte as they came, with a `W! ` line.
 */
import { flattenJson } from './exact-payload';
import { writeAnnotated, type ExtraField } from './annotate';
import { isCommentOrBlank, LineLayout, parseLine } from './lineprotocol/parse';
import { decodeKey } from './lineprotocol/decode';
import { conclude, prepare, runSignatureJob, type KeyLookup, type Verdict } from './verdict';
import type { SignatureVerifier } from './crypto/verifier';
import type { DeviceMemory } from './memory';
import type { Logger } from './log';
import type { OutputBuffer } from './output';
import type { Candidate, ReadingExtractor } from './reading';
import type { Stats } from './stats';

const HINT_AFTER = 3;

export interface PipelineDeps {
  readonly extractor: ReadingExtractor;
  readonly keys: KeyLookup;
  readonly memory: DeviceMemory;
  readonly crypto: SignatureVerifier;
  readonly log: Logger;
  readonly out: OutputBuffer;
  readonly stats: Stats;
  /** Exact mode: also write the payload's fields the way json v1 would. */
  readonly expandPayload: boolean;
  readonly keepStrings: ReadonlySet<string>;
}

export class Pipeline {
  private readonly layout = new LineLayout();
  private readonly hinted = new Set<string>();
  /** Consecutive bad signatures per registered device: a run of them, not one tampered reading, suggests a new key. */
  private readonly failing = new Map<string, number>();

  constructor(private readonly d: PipelineDeps) {}

  /** Processes buf[start, end), the bytes of one metric without its newline. Never throws on input. */
  line(buf: Uint8Array, start: number, end: number): void {
    const { out, log, stats } = this.d;
    if (isCommentOrBlank(buf, start, end)) return this.passThrough(buf, start, end);
    const error = parseLine(buf, start, end, this.layout);
    if (error !== null) {
      stats.invalidLines++;
      log.limited('W', 'invalid-line', `passing through a line that is not valid line protocol (${error}): ${preview(buf, start, end)}`);
      return this.passThrough(buf, start, end);
    }
    let verdict: Verdict;
    let device: string | undefined;
    let extra: readonly ExtraField[] = [];
    try {
      const x = this.d.extractor.extract(buf, this.layout);
      if (x.status === 'candidate') {
        device = x.device;
        if (x.payload && this.d.expandPayload) extra = this.expansion(buf, x);
      }
      verdict = this.verify(x);
    } catch (e) {
      // A bug must not cost a metric: fail closed and keep going.
      verdict = { status: 'malformed', detail: `internal error: ${(e as Error).message}` };
      log.limited('E', 'internal', `${verdict.detail} on: ${preview(buf, start, end)}`);
    }
    stats.count(verdict.status, device);
    if (verdict.detail) log.limited('W', verdict.status, verdict.detail);
    if (device !== undefined) this.trackKeyHealth(device, verdict.status);
    writeAnnotated(out, buf, start, end, this.layout, verdict.status, verdict.signedMessage, extra);
  }

  private verify(x: ReturnType<ReadingExtractor['extract']>): Verdict {
    const p = prepare(x, this.d.keys, this.d.memory);
    if ('verdict' in p) return p.verdict;
    return conclude(p, runSignatureJob(p.job, this.d.crypto), this.d.memory);
  }

  /** Payload fields json v1 would have written, minus names the metric already has. */
  private expansion(buf: Uint8Array, x: Candidate): ExtraField[] {
    const l = this.layout;
    const present = new Set<string>();
    for (let f = 0; f < l.fieldCount; f++) present.add(decodeKey(buf, l.fieldKeyStart[f]!, l.fieldKeyEnd[f]!));
    return flattenJson(x.payload!, this.d.keepStrings).filter(([k]) => !present.has(k));
  }

  private passThrough(buf: Uint8Array, start: number, end: number): void {
    this.d.out.bytes(buf, start, end);
    this.d.out.byte(0x0a);
  }

  private trackKeyHealth(device: string, status: Verdict['status']): void {
    if (status !== 'bad_signature') {
      if (status === 'ok') this.failing.delete(device);
      return;
    }
    if (this.hinted.has(device) || !this.d.keys.keysFor(device)) return;
    const run = (this.failing.get(device) ?? 0) + 1;
    this.failing.set(device, run);
    if (run < HINT_AFTER) return;
    this.failing.delete(device);
    this.hinted.add(device);
    this.d.log.log(
      'W',
      `device "${device}": readings do not verify with its registered key. If the plug was hard-reset (seven power cycles) it ` +
        `generated a new key: read it from the plug's web UI (Information page, public key), add it to the keys file ` +
        `(with not_before set to the reset time), and meterproof reloads it.`,
    );
  }
}

function preview(buf: Uint8Array, start: number, end: number): string {
  const n = Math.min(end - start, 200);
  return Buffer.from(buf.buffer, buf.byteOffset + start, n).toString('utf8') + (end - start > n ? '…' : '');
}
