/**
 * A signature job's likeliest texts, verified through the worker ring (./crypto/ring.ts). When none
 * verifies, the pipeline tries the rarer texts on its own thread as it concludes the line, in input
 * order (`continueSignatureJob`, within the device's check budget): sent to the ring, they would queue
 * behind every check submitted since and hold up the output behind them.
 * Matches are numbered as runSignatureJob numbers them, so inline and offloaded checks conclude alike.
 */
import type { VerifyPool } from './crypto/pool';
import type { SignatureJob } from '../core/node/signature-job';

export class OffloadedCheck {
  private taken = 0;
  private found = -1;

  private constructor(
    private readonly job: SignatureJob,
    private readonly pool: VerifyPool,
    /** Sequence number of the first text's check; the others follow it. */
    private readonly first: number,
  ) {}

  /** Sends the job's likeliest texts to the ring; undefined when they do not fit (verify it inline). */
  static start(job: SignatureJob, pool: VerifyPool): OffloadedCheck | undefined {
    const first = pool.submitAll(job.signature, job.messages, job.keys);
    return first === undefined ? undefined : new OffloadedCheck(job, pool, first);
  }

  /**
   * The match among the likeliest texts, -1 for none, or undefined while answers are pending. With
   * `wake`, a message is then asked for when the answer lands (see VerifyPool.waitFor).
   */
  poll(wake: boolean): number | undefined {
    while (this.taken < this.job.messages.length) {
      const seq = (this.first + this.taken) | 0;
      const answer = this.pool.take(seq);
      if (answer === undefined) {
        if (!wake || !this.pool.waitFor(seq)) return undefined;
        continue; // answered meanwhile
      }
      // Every answer is taken (a slot is freed only then), but the first text that verified wins.
      if (answer >= 0 && this.found < 0) this.found = this.taken * this.job.keys.length + answer;
      this.taken++;
    }
    return this.found;
  }
}
