/** The summary's per-interval device count stays bounded in bytes under a flood of distinct long names. */
import { describe, expect, it } from 'vitest';
import { Stats, summaryLine } from '../../processor/stats';

describe('Stats', () => {
  it('counts distinct devices, and stops holding names past its byte bound, saying the count is a lower bound', () => {
    const s = new Stats();
    const name = (i: number) => `${String(i).padStart(8, '0')}${'x'.repeat(1016)}`; // 1 KB each
    for (let i = 0; i < 20_000; i++) s.count('unknown_device', name(i));
    const snap = s.peek();
    expect(snap.counts.unknown_device).toBe(20_000);
    expect(snap.devicesCapped).toBe(true);
    // 8 Mi UTF-16 units of names at most: 8,192 names of 1,024.
    expect(snap.devices).toBe(8192);
    expect(summaryLine(snap, 0)).toContain('devices>=8192');
    s.reset();
    s.count('ok', 'a');
    s.count('ok', 'a');
    expect(s.peek()).toMatchObject({ devices: 1, devicesCapped: false });
  });
});
