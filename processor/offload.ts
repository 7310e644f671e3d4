/**
 * A signature job verified through the worker ring (./crypto/ring.ts). The ring takes the likeliest
 * texts; when no key verifies them, the rarer texts are tried on this thread, at once: sent to the
 * ring, they would queue behind every check submitted since and hold up the output behind them.
 * Matches are numbered as runSignatureJob numbers them, so inline and offloaded checks conclude alike.
 */
import type { VerifyPool } from './crypto/pool';
import type { SignatureJob } from './verdict';

export class OffloadedCheck {
  private taken = 0;
  private found = -1;

  private constructor(
    private readonly job: SignatureJob,
    private readonly pool: VerifyPool,
    private readonly seqs: number[],
    /** Tries the job's rarer texts on this thread. */
    private readonly continueInline: () => number,
  ) {}

  /** Sends the job's likeliest texts to the ring; undefined when they do not fit (verify it inline). */
  static start(job: SignatureJob, pool: VerifyPool, continueInline: () => number): OffloadedCheck | undefined {
    const seqs = pool.submitAll(job.signature, job.messages, job.keys);
    return seqs && new OffloadedCheck(job, pool, seqs, continueInline);
  }

  /** The match, or undefined while answers are pending (a wake-up is then armed). */
  poll(): number | undefined {
    while (this.taken < this.seqs.length) {
      const seq = this.seqs[this.taken]!;
      const answer = this.pool.take(seq);
      if (answer === undefined) {
        if (!this.pool.waitFor(seq)) return undefined;
        continue; // answered meanwhile
      }
      // Every answer is taken (a slot is freed only then), but the first text that verified wins.
      if (answer >= 0 && this.found < 0) this.found = this.taken * this.job.keys.length + answer;
      this.taken++;
    }
    return this.found >= 0 ? this.found : this.continueInline();
  }
}
