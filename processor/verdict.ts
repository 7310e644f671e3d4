/**
 * Turns an extracted reading into a verdict, in the contract's precedence: unsigned, malformed,
 * unknown_device, bad_signature, replay, rollback. Readings of one device are judged in input order.
 */
import { exactDecimalCounts, formatTotal, likeliestTotal, signedMessage } from '../core/firmware';
import { keysValidAt, type KeyEntry } from '../core/keyfile';
import type { VerifyStatus } from '../core/status';
import type { SignatureJob } from '../core/node/signature-job';
import type { FailingDevices } from './failing-devices';
import type { LastAccepted, Progress } from './last-accepted';
import type { JudgeRequest } from './redis-state';
import type { Candidate, Extraction } from './reading';

export interface Verdict {
  readonly status: VerifyStatus;
  /** Set exactly when status is `ok`: the text that verified. */
  readonly signedMessage?: string;
  /** Why, for the log; absent on `ok` and `unsigned`. */
  readonly detail?: string;
}

export interface KeyLookup {
  keysFor(device: string): readonly KeyEntry[] | undefined;
}

const NONE: readonly string[] = [];

/**
 * A reading whose signature must be checked: the job, and what concluding it needs. One object per
 * reading, so the steady state allocates little; the rarer Total texts are made only when needed.
 * Fields are set by name after construction (see `prepare`), all present from the start.
 */
export class PendingCheck implements SignatureJob {
  /** The texts to try first: the likeliest, or, for a failing device that can afford it, all of them. */
  messages: readonly string[] = NONE;
  /** Decimal count of the likeliest text; undefined in exact mode, where the one text is the plug's own. */
  firstDecimals: number | undefined = undefined;
  /** Rarer texts left untried because the device is failing and its check budget is spent. */
  untried = 0;
  private rarer: { readonly texts: readonly string[]; readonly decimals: readonly number[] } | undefined = undefined;
  private more: readonly string[] | undefined = undefined;

  constructor(
    readonly candidate: Candidate & { device: string },
    /** Keys valid at the signed Time, the one that last verified for the device first. */
    readonly keys: readonly KeyEntry[],
    private readonly failing: FailingDevices,
  ) {}

  get signature(): Uint8Array {
    return this.candidate.signature;
  }

  /** The rarer texts, once: made only when the likeliest failed, and only if the device may afford them. */
  moreMessages(): readonly string[] {
    if (this.more !== undefined) return this.more;
    const texts = this.rarerTotals().texts;
    if (texts.length === 0 || this.failing.afford(this.candidate.device, texts.length * this.keys.length, this.keys.length))
      return (this.more = texts);
    this.untried = texts.length;
    return (this.more = NONE);
  }

  /** A failing device's rarer texts go out with the first, to the worker threads, if it can afford them. */
  takeAllUpFront(): void {
    const texts = this.rarerTotals().texts;
    if (texts.length === 0 || !this.failing.afford(this.candidate.device, texts.length * this.keys.length, this.keys.length)) return;
    this.messages = [this.messages[0]!, ...texts];
    this.more = NONE;
  }

  /** Decimal count behind text `m` (0 is the likeliest), if the text was rebuilt from a float. */
  decimalsOf(m: number): number | undefined {
    return m === 0 ? this.firstDecimals : this.rarerTotals().decimals[m - 1];
  }

  private rarerTotals() {
    if (this.rarer) return this.rarer;
    const c = this.candidate;
    const decimals = this.firstDecimals === undefined ? [] : exactDecimalCounts(c.totals, this.firstDecimals).slice(1); // every other exact count
    return (this.rarer = { decimals, texts: decimals.map((d) => signedMessage(c.time19, formatTotal(c.totals, d, c.asArray))) });
  }
}

/** Statuses that need no signature check, or the check to run. */
export type Prepared = { readonly verdict: Verdict } | PendingCheck;

export function prepare(x: Extraction, keys: KeyLookup, memory: LastAccepted, failing: FailingDevices): Prepared {
  if (x.status === 'unsigned') return { verdict: { status: 'unsigned' } };
  if (x.status === 'malformed') return { verdict: { status: 'malformed', detail: x.reason } };
  let message: string;
  let firstDecimals: number | undefined;
  if (x.totalText !== undefined) message = signedMessage(x.time19, x.totalText);
  else {
    const likeliest = likeliestTotal(x.totals, x.device === undefined ? undefined : memory.preferredDecimals(x.device), x.asArray);
    if (!likeliest)
      return { verdict: { status: 'malformed', detail: `Total ${x.totals.join(',')} is not a value the firmware can print` } };
    message = signedMessage(x.time19, likeliest.text);
    firstDecimals = likeliest.decimals;
  }
  if (x.device === undefined) return { verdict: { status: 'unknown_device', detail: 'no device tag and no tele/<device>/... topic' } };
  const registered = keys.keysFor(x.device);
  if (!registered) return { verdict: { status: 'unknown_device', detail: `device "${x.device}" has no registered key` } };
  const valid = keysValidAt(registered, x.time19);
  if (valid.length === 0)
    return {
      verdict: {
        status: 'bad_signature',
        detail: `device "${x.device}" has no key valid at ${x.time19} (revoked or outside not_before/not_after)`,
      },
    };
  const check = new PendingCheck(
    x as Candidate & { device: string },
    valid.length < 2 ? valid : preferredFirst(valid, memory.lastKeyHex(x.device)),
    failing,
  );
  check.messages = [message];
  check.firstDecimals = firstDecimals;
  if (failing.isFailing(x.device)) check.takeAllUpFront();
  return check;
}

/** The key that last verified for the device first: a genuine reading then costs one verification. */
function preferredFirst(keys: readonly KeyEntry[], hex: string | undefined): readonly KeyEntry[] {
  if (hex === undefined || keys[0]!.key.hex === hex) return keys;
  const i = keys.findIndex((e) => e.key.hex === hex);
  return i < 0 ? keys : [keys[i]!, ...keys.slice(0, i), ...keys.slice(i + 1)];
}

/** Applies a finished signature check and the device's memory, in input order. */
export function conclude(job: PendingCheck, match: number, memory: LastAccepted): Verdict {
  const c = job.candidate;
  if (match < 0) return badSignature(job);
  const entry = job.keys[match % job.keys.length]!;
  const keyHex = entry.key.hex;
  const progress = memory.judge(c.device, c.time19, c.totals, keyHex, entry.notBefore);
  if (progress === 'ok') memory.accept(c.device, { time19: c.time19, totals: c.totals, keyHex });
  return judged(job, match, progress, memory);
}

/** What a shared judge (--state redis://…) needs of a verified reading (`match` ≥ 0). */
export function judgeRequest(job: PendingCheck, match: number): JudgeRequest {
  const entry = job.keys[match % job.keys.length]!;
  const c = job.candidate;
  return { device: c.device, time19: c.time19, totals: c.totals, keyHex: entry.key.hex, keyNotBefore: entry.notBefore };
}

/** The verdict once the device's memory judged (and, if ok, accepted) the verified reading. */
export function judged(job: PendingCheck, match: number, progress: Progress, memory: LastAccepted): Verdict {
  const c = job.candidate;
  if (progress === 'replay')
    return { status: 'replay', detail: `device "${c.device}": signed Time ${c.time19} is not newer than the last accepted one` };
  if (progress === 'rollback') return { status: 'rollback', detail: `device "${c.device}": Total went down at ${c.time19}` };
  const m = Math.floor(match / job.keys.length);
  const message = m < job.messages.length ? job.messages[m]! : job.moreMessages!()[m - job.messages.length]!;
  const d = job.decimalsOf(m);
  if (d !== undefined) memory.rememberDecimals(c.device, d);
  return { status: 'ok', signedMessage: message };
}

function badSignature(job: PendingCheck): Verdict {
  const untried =
    job.untried === 0
      ? ''
      : ` (${job.untried} rarer renderings of the Total not tried: its readings keep failing and its check budget is spent)`;
  return {
    status: 'bad_signature',
    detail: `device "${job.candidate.device}": signature does not verify for ${job.candidate.time19}${untried}`,
  };
}
