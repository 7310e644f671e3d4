/**
 * --state redis://…: several processors sharing device memory in a real Redis (one server, and a
 * three-node cluster) judge exactly as one processor over the merged stream; Redis killed and
 * restarted never costs a metric.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { collect, requireBuild, runProcessor, startProcessor, tempDir, writeKeys } from '../harness/processor';
import { decode, splitLines, tag } from '../harness/metrics';
import { startRedis, startRedisCluster, type RedisCluster, type RedisServer } from '../harness/redis';
import { createClient, KEY_PREFIX, type RedisClient } from '../../processor/redis-state';
import { LastAccepted } from '../../processor/last-accepted';
import { fleet, processors, roundRobin, rounds, sleep, toLine } from '../harness/shared-state';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
describe('shared Redis state', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
  });

  it('three processors fed round-robin give exactly the verdicts of one processor over the whole stream', async () => {
    await roundRobin(dir, redis.url, 'rr-one');
  }, 120_000);

  it('the server-side script judges exactly as LastAccepted.judge (fresh keys, phase-count sums)', async () => {
    const client = createClient(redis.url);
    await client.connect();
    try {
      const time = fc.integer({ min: 0, max: 30 }).map((s) => `2025-01-01T00:00:${String(s).padStart(2, '0')}`);
      const totals = fc.array(
        fc.oneof(
          fc.integer({ min: 0, max: 2000 }).map((v) => v / 1000),
          fc.constantFrom(1.1, 2.2, 3.3, 0.1, 0.2, 0.3),
        ),
        { minLength: 1, maxLength: 3 },
      );
      const step = fc.record({
        device: fc.constantFrom('x', 'y'),
        time,
        totals,
        key: fc.constantFrom('k1', 'k2'),
        notBefore: fc.option(time, { nil: undefined }),
      });
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
          const prefix = `prop${run++}-`;
          const mem = new LastAccepted();
          for (const s of steps) {
            const want = mem.judge(prefix + s.device, s.time, s.totals, s.key, s.notBefore);
            if (want === 'ok') mem.accept(prefix + s.device, { time19: s.time, totals: s.totals, keyHex: s.key });
            const got = await (client as RedisClient).meterproofJudge(
              KEY_PREFIX + prefix + s.device,
              'judge',
              s.time,
              s.key,
              s.notBefore ?? '',
              s.totals.map(String).join(','),
            );
            expect(typeof got === 'string' ? got : got[0]).toBe(want);
          }
        }),
        { numRuns: 150 },
      );
    } finally {
      client.disconnect();
    }
  }, 120_000);

  it('keeps answering every metric, exit 0, when Redis is killed under bulk input', async () => {
    const r = await startRedis();
    const f = fleet('kill');
    const keys = writeKeys(dir, f.publicKeys(), 'kill-keys.json');
    const msgs = rounds(f, 0, 1500);
    const child = startProcessor(['--keys', keys, '--state', r.url, '--crypto', 'node', '--summary-interval', '1']);
    const done = collect(child);
    let seen = 0;
    const reached = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) if (++seen === 1500) resolve();
      }),
    );
    child.stdin.write(msgs.map(toLine).join(''));
    await reached;
    await r.kill();
    await sleep(300);
    child.stdin.end();
    const res = await done;
    await r.stop();
    expect(res.code).toBe(0);
    const out = splitLines(res.stdout).map((l) => tag(decode(l), 'verify_status'));
    // One processor: its own memory, kept in step, gives the same verdicts through the outage.
    expect(out).toEqual(msgs.map((m) => m.expected));
    for (const line of res.stderr.split('\n').filter(Boolean)) expect(line).toMatch(/^[EWID]! /);
    expect(res.stderr.match(/^W! state: Redis .* unavailable/gm)).toHaveLength(1);
  }, 120_000);

  it('answers within a bounded time while Redis hangs (SIGSTOP), and shares again when it resumes', async () => {
    const r = await startRedis();
    const f = fleet('hang');
    const keys = writeKeys(dir, f.publicKeys(), 'hang-keys.json');
    const msgs = rounds(f, 0, 12, false);
    const p = processors(1, keys, r.url);
    try {
      for (const m of msgs.slice(0, 8)) expect(await p.send(m)).toBe('ok');
      r.signal('SIGSTOP');
      const slowest: number[] = [];
      for (const m of msgs.slice(8, 40)) {
        const t = Date.now();
        expect(await p.send(m)).toBe('ok');
        slowest.push(Date.now() - t);
      }
      // 200 ms for the first, then at once; generous for a loaded machine, far below a hung socket's minutes.
      expect(Math.max(...slowest)).toBeLessThan(2000);
      r.signal('SIGCONT');
      const deadline = Date.now() + 20_000;
      while (!/I! state: Redis .* is back/.test(p.stderr[0]!) && Date.now() < deadline) await sleep(100);
      expect(p.stderr[0]).toMatch(/W! state: Redis .* unavailable \(no answer within 200 ms\)/);
      expect(p.stderr[0]).toMatch(/I! state: Redis .* is back/);
    } finally {
      r.signal('SIGCONT');
      expect(await p.close()).toEqual([0]);
      await r.stop();
    }
  }, 120_000);

  it('reconnects after Redis restarts and shares again', async () => {
    const r = await startRedis();
    const f = fleet('restart');
    const keys = writeKeys(dir, f.publicKeys(), 'restart-keys.json');
    const before = rounds(f, 0, 20);
    const during = rounds(f, 20, 30, false);
    const after = rounds(f, 30, 60);
    const p = processors(3, keys, r.url);
    const got: string[] = [];
    for (const m of before) got.push(await p.send(m));
    expect(got).toEqual(before.map((m) => m.expected));
    await r.kill();
    const outage: string[] = [];
    for (const m of during) outage.push(await p.send(m));
    expect(outage).toEqual(during.map(() => 'ok'));
    await r.restart();
    // Each processor says when it merged its memory back.
    const deadline = Date.now() + 20_000;
    while (!p.stderr.every((e) => /I! state: Redis .* is back/.test(e)) && Date.now() < deadline) await sleep(100);
    expect(p.stderr.every((e) => /I! state: Redis .* is back/.test(e))).toBe(true);
    const shared: string[] = [];
    for (const m of after) shared.push(await p.send(m));
    expect(await p.close()).toEqual([0, 0, 0]);
    await r.stop();
    expect(shared).toEqual(after.map((m) => m.expected));
  }, 120_000);
});

describe('meterproof state', () => {
  it('export/import round-trips a state file through Redis unchanged, and shows a device', async () => {
    const r = await startRedis();
    try {
      const f = fleet('export');
      const keys = writeKeys(dir, f.publicKeys(), 'export-keys.json');
      const file = join(dir, 'export-state.json');
      const run = await runProcessor(['--keys', keys, '--state', file], rounds(f, 0, 30).map(toLine).join(''));
      expect(run.code).toBe(0);
      const original = readFileSync(file, 'utf8');
      expect(Object.keys(JSON.parse(original).devices)).toHaveLength(4);
      const cli = (...args: string[]) =>
        promisify(execFile)(process.execPath, [requireBuild('meterproof.js'), 'state', ...args]).then((x) => x.stdout);
      await cli('import', '--state', r.url, '--in', file);
      const back = join(dir, 'export-back.json');
      await cli('export', '--state', r.url, '--out', back);
      expect(JSON.parse(readFileSync(back, 'utf8'))).toEqual(JSON.parse(original));
      // And into a fresh file, from Redis.
      const copy = join(dir, 'export-copy.json');
      await cli('import', '--state', copy, '--in', back);
      expect(JSON.parse(readFileSync(copy, 'utf8'))).toEqual(JSON.parse(original));
      const a = JSON.parse(await cli('show', '--state', r.url, '--device', 'a'));
      expect(a).toEqual({ device: 'a', ...JSON.parse(original).devices.a });
    } finally {
      await r.stop();
    }
  }, 120_000);
});

describe('shared Redis Cluster state', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('three processors fed round-robin give exactly the verdicts of one processor', async () => {
    await roundRobin(dir, cluster.url, 'rr-cluster');
    // The devices' keys are spread over the nodes' slots.
    const counts = await Promise.all(cluster.nodes.map(async (n) => Number((await n.cli('dbsize')).trim())));
    expect(counts.filter((c) => c > 0).length).toBeGreaterThan(1);
  }, 120_000);
});
