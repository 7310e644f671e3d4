// The benchmark's steady rate: it must leave out a slow start and count only what follows it.
import { describe, expect, it } from 'vitest';
import { STEADY_AFTER, steadyRate } from '../../bench/processor-runs';

/** Samples every 10 ms, until `end`, of a run that has written `bytesAt(ms)` bytes by then. */
function sampled(end: number, bytesAt: (ms: number) => number): [number, number][] {
  const read: [number, number][] = [];
  for (let t = 0; t < end; t += 10) read.push([t, bytesAt(t)]);
  return read;
}

describe('steadyRate', () => {
  it('is the rate after start-up, whatever the start-up cost', () => {
    // 100,000 lines of 500 bytes at 20,000 lines/s (10,000 bytes/ms), after 0 ms or 700 ms of silence.
    for (const startMs of [0, 700]) {
      const end = startMs + 50_000_000 / 10_000;
      const read = sampled(end, (t) => Math.max(0, Math.min(50_000_000, (t - startMs) * 10_000)));
      expect(steadyRate(read, 100_000, 50_000_000, end)).toBeCloseTo(20_000, -1);
    }
  });

  it('starts counting only past the first STEADY_AFTER of the output', () => {
    // Slow for the first 5 %, then four times as fast: the slow part must not pull the rate down.
    const bytes = 1_000_000,
      lines = 1000;
    const slowEnd = (0.05 * bytes) / 100; // 500 ms at 100 bytes/ms
    const end = slowEnd + (0.95 * bytes) / 400;
    const read = sampled(end, (t) => (t < slowEnd ? t * 100 : 0.05 * bytes + (t - slowEnd) * 400));
    expect(STEADY_AFTER).toBeGreaterThan(0.05);
    expect(steadyRate(read, lines, bytes, end)).toBeCloseTo(400, 0); // 400 bytes/ms = 400 lines/s of 1,000 bytes
  });

  it('is undefined when no sample falls between STEADY_AFTER and the end', () => {
    expect(
      steadyRate(
        [
          [5, 50],
          [15, 1000],
        ],
        10,
        1000,
        20,
      ),
    ).toBeUndefined(); // 5 %, then all of it
    expect(steadyRate([], 10, 1000, 20)).toBeUndefined();
  });
});
