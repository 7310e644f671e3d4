/**
 * QuietInput: it tells of rest only after a millisecond with no chunk, once per rest, and watches again
 * when input comes back. Timing-safe: under load an event-loop turn may itself take a millisecond, so
 * the test checks each rest against the chunks actually seen, not against a schedule.
 */
import { describe, expect, it } from 'vitest';
import { QuietInput } from '../../processor/quiet-input';

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('QuietInput', () => {
  it('tells of rest only after a quiet millisecond, once when input stops, and again after new input', async () => {
    const chunks: number[] = [];
    const rests: number[] = [];
    const watch = new QuietInput(() => rests.push(performance.now()));
    const chunk = () => (chunks.push(performance.now()), watch.chunk());
    const t0 = performance.now();
    while (performance.now() - t0 < 30) {
      chunk();
      await tick();
    }
    await sleep(20);
    chunk();
    await sleep(20);

    const lastChunkBefore = (t: number) => Math.max(...chunks.filter((c) => c <= t));
    for (const r of rests) expect(r - lastChunkBefore(r)).toBeGreaterThanOrEqual(1);
    // After each of the two stops, exactly one rest.
    const endOfFeed = chunks[chunks.length - 2]!,
      lastChunk = chunks[chunks.length - 1]!;
    expect(rests.filter((r) => r > endOfFeed && r < lastChunk).length).toBe(1);
    expect(rests.filter((r) => r > lastChunk).length).toBe(1);
  });
});
