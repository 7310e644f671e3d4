/**
 * Turns an extracted reading into a verdict, in the contract's precedence: unsigned, malformed,
 * unknown_device, bad_signature, replay, rollback. Readings of one device are judged in input order.
 */
import { exactDecimalCounts, formatTotal, likeliestTotal, signedMessage } from '../core/firmware';
import { keysValidAt, type KeyEntry } from '../core/keyfile';
import type { VerifyStatus } from '../core/status';
import type { SignatureJob } from '../core/node/signature-job';
import type { LastAccepted } from './last-accepted';
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

/**
 * A reading whose signature must be checked: the job, and what concluding it needs. One object per
 * reading, so the steady state allocates little; the rarer Total texts are made only when needed.
 */
export class PendingCheck implements SignatureJob {
  private rarer: { readonly texts: readonly string[]; readonly decimals: readonly number[] } | undefined;

  constructor(
    readonly candidate: Candidate & { device: string },
    readonly messages: readonly string[],
    readonly keys: readonly KeyEntry[],
    /** Decimal count of the likeliest text; undefined in exact mode, where the one text is the plug's own. */
    private readonly firstDecimals: number | undefined,
  ) {}

  get signature(): Uint8Array {
    return this.candidate.signature;
  }

  moreMessages(): readonly string[] {
    return this.rarerTotals().texts;
  }

  /** Decimal count behind message `m` (0 is the likeliest), if the text was rebuilt from a float. */
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

export function prepare(x: Extraction, keys: KeyLookup, memory: LastAccepted): Prepared {
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
  return new PendingCheck(x as Candidate & { device: string }, [message], valid, firstDecimals);
}

/** Applies a finished signature check and the device's memory, in input order. */
export function conclude(job: PendingCheck, match: number, memory: LastAccepted): Verdict {
  const c = job.candidate;
  if (match < 0) return { status: 'bad_signature', detail: `device "${c.device}": signature does not verify for ${c.time19}` };
  const m = Math.floor(match / job.keys.length);
  const message = m < job.messages.length ? job.messages[m]! : job.moreMessages!()[m - job.messages.length]!;
  const entry = job.keys[match % job.keys.length]!;
  const keyHex = entry.key.hex;
  const progress = memory.judge(c.device, c.time19, c.totals, keyHex, entry.notBefore);
  if (progress === 'replay')
    return { status: 'replay', detail: `device "${c.device}": signed Time ${c.time19} is not newer than the last accepted one` };
  if (progress === 'rollback') return { status: 'rollback', detail: `device "${c.device}": Total went down at ${c.time19}` };
  memory.accept(c.device, { time19: c.time19, totals: c.totals, keyHex });
  const d = job.decimalsOf(m);
  if (d !== undefined) memory.rememberDecimals(c.device, d);
  return { status: 'ok', signedMessage: message };
}
