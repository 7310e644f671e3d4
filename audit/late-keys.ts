/**
 * Rows the processor rejected that a key registered later proves: readings a hard-reset plug signed with
 * its new key before `meterproof keys rotate` registered that key (with `not_before` = the reset time).
 * They are reported as *verified later*, apart from the disagreements, and `--retag` may rewrite them.
 *
 * The key file does not say when a key was registered, so the audit tells such a row from a tampered one
 * by what the key file and the stored rows do say (docs/audit.md, "Verified later"). A row is verified
 * later when all of these hold, and otherwise stays a `rejected_but_valid` disagreement:
 * - it is stored `verified=false` with `verify_status` `bad_signature` or `unknown_device`, without a
 *   `signed_message` (the processor writes one only on `ok`);
 * - its signature proves exactly its values under a key valid at its signed Time **that has a
 *   `not_before`** (a key registered as a successor from a given time, as `keys rotate` writes it);
 * - no row of the device stored before it is `verified=true` and proven by that same key (once the
 *   processor has verified a reading with a key, it knew that key, and a later rejection of a reading
 *   it would have accepted is not explained by late registration: a demoted row stays an alarm), unless
 *   the row would not have been `ok` in order anyway (below), so that its `verified=false` stands
 *   whatever the key: the replays left alone stay verified later after `--retag` rewrote the rest.
 * Such a row is re-tagged only if it would have been `ok` in stored order: judged like the processor
 * (processor/last-accepted.ts) against the device's last `ok` reading stored before it, it is neither a
 * replay nor a rollback; and no `ok` row of the device stored after it is signed at or before its Time
 * (re-tagging it would make that one a replay).
 *
 * Memory: every verified-later row is held (a few hundred bytes, with its corrected point under
 * `--retag`); other rows leave only a small per-device state.
 */
import type { KeyEntry } from '../core/keyfile';
import { judgeProgress, type Accepted } from '../core/progress';
import type { RowCheck } from './recheck';

/** Stored statuses a late key can explain: the processor had no key for the device, or not this one. */
export const LATE_STATUSES: readonly string[] = ['bad_signature', 'unknown_device'];

/** The corrected point `--retag` writes, and the statement that deletes the stored one. */
export interface Rewrite {
  /** Line protocol, without the newline. */
  readonly line: string;
  readonly deletion: string;
}

export type RewriteOf = (signedMessage: string) => Rewrite | { readonly problem: string };

export interface VerifiedLater {
  /** The stored timestamp (RFC 3339). */
  readonly time: string;
  readonly device: string;
  /** The stored `verify_status`. */
  readonly status: string;
  readonly signedMessage: string;
  /** Hex of the key that proves it, and that key's `not_before`. */
  readonly key: string;
  readonly notBefore: string;
  /** Why `--retag` leaves it alone; undefined when it would rewrite it. */
  left?: string;
  /**
   * The corrected row is already stored beside it (same time, `ok`, same signed text: an interrupted
   * `--retag`), so only the old point remains to delete.
   */
  corrected?: boolean;
  /** Under `--retag`, while it is to be rewritten. */
  rewrite?: Rewrite;
}

/** A row as the audit reports it: verified-later rows carry no disagreement. */
export interface ReviewedRow extends RowCheck {
  readonly verifiedLater?: VerifiedLater;
}

interface Sequence {
  /** The device's newest `ok` reading so far, stored or re-taggable. */
  last?: Accepted;
  /** Keys that proved a stored `verified=true` row: the processor knew them. */
  readonly known: Set<string>;
  /** Re-taggable rows, in stored order; their signed Times increase. */
  readonly open: VerifiedLater[];
}

export class LateKeys {
  /** Every verified-later row, in stored order. */
  readonly rows: VerifiedLater[] = [];
  private readonly devices = new Map<string, Sequence>();

  /**
   * `check` of the row stored at `time`, in stored order. `storedMessage`: whether the row carries
   * `signed_message`. `rewriteOf` (under `--retag`) makes the corrected point.
   */
  review(check: RowCheck, time: string, storedMessage: boolean, rewriteOf?: RewriteOf): ReviewedRow {
    const proof = check.proof;
    if (!proof) return check;
    if (check.storedVerified === true) {
      this.stored(this.sequence(check.device), time, proof.message, proof.key.key.hex);
      return check;
    }
    const key = proof.key;
    if (
      check.disagreement?.kind !== 'rejected_but_valid' ||
      !LATE_STATUSES.includes(check.status ?? '') ||
      storedMessage ||
      key.notBefore === undefined
    )
      return check;
    const seq = this.sequence(check.device);
    const time19 = proof.message.slice(0, 19);
    const totals = totalsOf(proof.message);
    const left = outOfOrder(seq.last, time19, totals, key);
    if (left === undefined && seq.known.has(key.key.hex)) return check;

    const later: VerifiedLater = {
      time,
      device: check.device,
      status: check.status!,
      signedMessage: proof.message,
      key: key.key.hex,
      notBefore: key.notBefore,
    };
    this.rows.push(later);
    later.left = left;
    if (left === undefined) {
      seq.last = { time19, totals, keyHex: key.key.hex };
      seq.open.push(later);
      const rewrite = rewriteOf?.(proof.message);
      if (rewrite && 'problem' in rewrite) later.left = `cannot be written back: ${rewrite.problem}`;
      else if (rewrite) later.rewrite = rewrite;
    }
    const { disagreement: _, ...agreed } = check;
    return { ...agreed, verifiedLater: later };
  }

  /** The rows `--retag` rewrites. */
  retaggable(): VerifiedLater[] {
    return this.rows.filter((r) => r.left === undefined);
  }

  private sequence(device: string): Sequence {
    let seq = this.devices.get(device);
    if (!seq) this.devices.set(device, (seq = { known: new Set(), open: [] }));
    return seq;
  }

  /** A stored `verified=true` row that its signature proves: what the processor accepted. */
  private stored(seq: Sequence, time: string, message: string, keyHex: string): void {
    const time19 = message.slice(0, 19);
    const open = seq.open.at(-1);
    if (open && open.time === time && open.signedMessage === message && open.key === keyHex) {
      // The corrected copy an interrupted --retag wrote: not a sign that the processor knew the key.
      open.corrected = true;
      return;
    }
    seq.known.add(keyHex);
    for (let o = seq.open.at(-1); o && o.signedMessage.slice(0, 19) >= time19; o = seq.open.at(-1)) {
      seq.open.pop();
      o.left = `an ok row stored after it (at ${time}) is signed at ${time19}, not later: re-tagging would make that one a replay`;
      o.rewrite = undefined;
    }
    if (!seq.last || time19 > seq.last.time19) seq.last = { time19, totals: totalsOf(message), keyHex };
  }
}

/** Why the processor would not have accepted the reading after `last` (core/progress.ts, as it judges live). */
function outOfOrder(last: Accepted | undefined, time19: string, totals: readonly number[], key: KeyEntry): string | undefined {
  const progress = judgeProgress(last, time19, totals, key.key.hex, key.notBefore);
  if (progress === 'replay') return `would have been a replay: the device's last ok reading stored before it is signed at ${last!.time19}`;
  if (progress === 'rollback')
    return `would have been a rollback: its Total is below that of the device's last ok reading stored before it (signed at ${last!.time19})`;
  return undefined;
}

/** The Total values of a signed text `time19,Total` (one value, or `[a,b,c]`). */
function totalsOf(message: string): number[] {
  const total = message.slice(20);
  return (total.startsWith('[') ? total.slice(1, -1).split(',') : [total]).map(Number);
}
