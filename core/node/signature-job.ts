/**
 * One signature check: which of several candidate texts, under which of a device's keys, verifies.
 * The processor runs it live (inline or on a worker thread), the audit runs it on stored rows.
 */
import type { KeyEntry } from '../keyfile';
import { latin1Scratch } from './latin1';
import type { SignatureVerifier } from './verifier';

/** A signature check to run: the first (key, message) pair that verifies wins. */
export interface SignatureJob {
  readonly signature: Uint8Array;
  /** The likeliest signed text(s). */
  readonly messages: readonly string[];
  /** Less likely texts, made and tried only when none of `messages` verifies (a rare, failing path). */
  moreMessages?(): readonly string[];
  readonly keys: readonly KeyEntry[];
}

/** Index into messages × keys (`m * keys.length + k`) of the pair that verified, or -1. */
export function runSignatureJob(job: SignatureJob, crypto: SignatureVerifier): number {
  const found = runLikeliest(job, crypto);
  return found >= 0 ? found : continueSignatureJob(job, crypto);
}

/** Only the likeliest messages: the rarer ones are for whoever decides whether they may cost more. */
export function runLikeliest(job: SignatureJob, crypto: SignatureVerifier): number {
  return tryMessages(job, job.messages, 0, crypto);
}

/** The rest of a job whose likeliest messages did not verify. */
export function continueSignatureJob(job: SignatureJob, crypto: SignatureVerifier): number {
  return job.moreMessages ? tryMessages(job, job.moreMessages(), job.messages.length, crypto) : -1;
}

function tryMessages(job: SignatureJob, messages: readonly string[], offset: number, crypto: SignatureVerifier): number {
  for (let m = 0; m < messages.length; m++) {
    const bytes = latin1Scratch(messages[m]!);
    for (let k = 0; k < job.keys.length; k++)
      if (crypto.verify(job.signature, bytes, job.keys[k]!.key)) return (offset + m) * job.keys.length + k;
  }
  return -1;
}
