/**
 * --state redis+sentinel://…: processors that find the master through a real Sentinel judge exactly as one
 * processor over the merged stream, and a failover mid-stream costs no metric: afterwards they share
 * the device memory again on the new master.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { tempDir, writeKeys } from '../harness/processor';
import { startRedisSentinel, type RedisSentinel, type RedisServer } from '../harness/redis';
import type { FleetMessage } from '../../sim/fleet';
import { allSharing, fleet, processors, roundRobin, rounds } from '../harness/shared-state';
import { KEY_PREFIX } from '../../processor/redis-state';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('shared Redis state through Sentinel', () => {
  let redis: RedisSentinel;
  beforeAll(async () => {
    redis = await startRedisSentinel();
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
  });

  it('two processors fed round-robin give exactly the verdicts of one processor over the whole stream', async () => {
    await roundRobin(dir, redis.url, 'rr-sentinel', 2);
    // They wrote to the master Sentinel names, and it replicated.
    const [master, replica] = redis.servers;
    expect(await redis.master()).toBe(master);
    expect((await master!.cli('get', `${KEY_PREFIX}a`)).trim()).toMatch(/^2025-01-01T00:49:00\|/);
    expect(await replica!.cli('get', `${KEY_PREFIX}a`)).toBe(await master!.cli('get', `${KEY_PREFIX}a`));
  }, 120_000);

  it('answers every metric through a failover, then shares again on the new master', async () => {
    const f = fleet('failover');
    const keys = writeKeys(dir, f.publicKeys(), 'failover-keys.json');
    const old = await redis.master();
    await old.cli('flushall'); // the same devices as the test before
    const p = processors(2, keys, redis.url);
    const verdicts = async (msgs: FleetMessage[]) => {
      const got: string[] = [];
      for (const m of msgs) got.push(await p.send(m));
      return got;
    };
    const before = rounds(f, 0, 15);
    expect(await verdicts(before)).toEqual(before.map((m) => m.expected));

    // Readings keep coming while Sentinel promotes the replica, and a few more after, which the old
    // master takes until Sentinel demotes it: writes the new master never sees. None of these is a
    // replay or rollback, so each is ok whether Redis or a processor's own memory judged it.
    let round = 15;
    const during: FleetMessage[] = [];
    const feed = async (n: number) => {
      for (const m of rounds(f, round, (round += n), false)) {
        expect(await p.send(m, during.length % 2)).toBe('ok');
        during.push(m);
      }
    };
    let promoted: RedisServer | undefined;
    const failing = redis.failover().then((s) => (promoted = s));
    while (!promoted) await feed(1);
    await failing;
    await feed(5);
    await redis.settled(promoted);
    expect(promoted).not.toBe(old);

    expect(await allSharing(p)).toBe(true);
    // Shared again, with nothing lost: each device's last reading, sent to the processor that did not
    // judge it, is a replay; a fresh one accepted by one processor is a replay at the other.
    const last = ['a', 'b', 'c', 'd'].map((d) => during.findLastIndex((m) => m.device === d));
    for (const i of last) expect(await p.send(during[i]!, (i + 1) % 2)).toBe('replay');
    for (const m of rounds(f, round, round + 1, false)) {
      expect(await p.send(m, 0)).toBe('ok');
      expect(await p.send(m, 1)).toBe('replay');
      const time19 = (JSON.parse(m.payload) as { Time: string }).Time.slice(0, 19);
      expect(await promoted.cli('get', `${KEY_PREFIX}${m.device}`)).toContain(`${time19}|`);
    }
    const after = rounds(f, round + 1, round + 30);
    expect(await verdicts(after)).toEqual(after.map((m) => m.expected));

    expect(await p.close()).toEqual([0, 0]);
    for (const e of p.stderr) for (const line of e.split('\n').filter(Boolean)) expect(line).toMatch(/^[EWI]! /);
  }, 120_000);
});
