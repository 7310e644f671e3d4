/** RestWatch: quiet for a millisecond and one more event-loop turn means rest; steady input never does. */
import { describe, expect, it } from 'vitest';
import { RestWatch } from '../processor/rest-watch';

const tick = () => new Promise((r) => setImmediate(r));

describe('RestWatch', () => {
  it('stays quiet while chunks keep coming, and tells once when they stop', async () => {
    const rests: number[] = [];
    const t0 = performance.now();
    const watch = new RestWatch(() => rests.push(performance.now() - t0));
    // Chunks on every event-loop turn for 30 ms: input never rests.
    while (performance.now() - t0 < 30) {
      watch.chunk();
      await tick();
    }
    expect(rests).toEqual([]);
    const stopped = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
    expect(rests.length).toBe(1);
    expect(rests[0]! - stopped).toBeGreaterThanOrEqual(0.9);
    // And it watches again once input comes back.
    watch.chunk();
    await new Promise((r) => setTimeout(r, 20));
    expect(rests.length).toBe(2);
  });
});
