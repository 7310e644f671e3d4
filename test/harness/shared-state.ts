/**
 * Processors sharing one `--state` (Redis in its forms): a simulated fleet, its messages as the lines
 * Telegraf would write, and N built processors fed one metric at a time, so a test can compare their
 * verdicts with one processor's over the merged stream.
 */
import { expect } from 'vitest';
import { SimulatedFleet, type FleetMessage } from '../../sim/fleet';
import type { PlugSpec } from '../../sim/plug';
import { telegrafLine } from './telegraf-mqtt-consumer';
import { lineReader, startProcessor, writeKeys } from './processor';
import { decode, tag } from './metrics';

export const T0 = Date.UTC(2025, 0, 1);

/** The line Telegraf's mqtt_consumer (json, topic_parsing `_/device/_`) makes of a message. */
export const toLine = (m: { topic: string; payload: string }, i = 0) =>
  telegrafLine(m.topic, m.payload, BigInt(T0) * 1_000_000n + BigInt(i), { mode: 'json', topicTags: '_/device/_' });

export const status = (line: string) => tag(decode(Buffer.from(line)), 'verify_status');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PLUGS: readonly PlugSpec[] = [
  { name: 'a', energyRes: 3 },
  { name: 'b', energyRes: 2, phases: 3 },
  { name: 'c', energyRes: 1 },
  { name: 'd', energyRes: 2 },
];

/** The first `plugs` of four plugs (an odd count moves each device from agent to agent, round to round). */
export function fleet(seed: string, plugs = PLUGS.length) {
  return new SimulatedFleet(PLUGS.slice(0, plugs), seed);
}

/** Rounds `from`..`to` a minute apart; with faults, replays, rollbacks and tampering mixed in. */
export function rounds(f: SimulatedFleet, from: number, to: number, faults = true): FleetMessage[] {
  const msgs: FleetMessage[] = [];
  for (let r = from; r < to; r++)
    msgs.push(...f.round(new Date(T0 + r * 60_000), faults ? { replayed: 0.15, rolled_back: 0.08, tampered: 0.03 } : {}));
  return msgs;
}

export interface SharedProcessors {
  /** Each processor's stderr so far. */
  readonly stderr: string[];
  /** Feeds one message to processor `to` (default: the next, round-robin) and waits for its verdict. */
  send(m: { topic: string; payload: string }, to?: number): Promise<string>;
  /** Closes every stdin (Telegraf's shutdown) and resolves to the exit codes. */
  close(): Promise<(number | null)[]>;
}

export function processors(n: number, keys: string, state: string): SharedProcessors {
  const children = Array.from({ length: n }, () => startProcessor(['--keys', keys, '--state', state, '--crypto', 'node']));
  const stderr = children.map(() => '');
  children.forEach((c, i) => c.stderr.on('data', (d: Buffer) => (stderr[i] += d.toString())));
  const readers = children.map(lineReader);
  let next = 0;
  return {
    stderr,
    async send(m, to = next++ % n) {
      children[to]!.stdin.write(toLine(m));
      return status(await readers[to]!()) ?? '';
    },
    async close() {
      const done = children.map((c) => new Promise<number | null>((r) => c.once('close', r)));
      children.forEach((c) => c.stdin.end());
      return Promise.all(done);
    },
  };
}

/** `n` processors on `state`, fed 50 faulty rounds round-robin, give exactly one processor's verdicts. */
export async function roundRobin(dir: string, state: string, seed: string, n = 3): Promise<void> {
  const f = fleet(seed);
  const keys = writeKeys(dir, f.publicKeys(), `${seed}-keys.json`);
  const msgs = rounds(f, 0, 50);
  const p = processors(n, keys, state);
  const got: string[] = [];
  for (const m of msgs) got.push(await p.send(m));
  expect(await p.close()).toEqual(Array(n).fill(0));
  expect(got).toEqual(msgs.map((m) => m.expected));
  expect(msgs.filter((m) => m.expected === 'replay').length).toBeGreaterThan(5);
  expect(msgs.filter((m) => m.expected === 'rollback').length).toBeGreaterThan(3);
  for (const e of p.stderr) expect(e).not.toMatch(/^W! state:/m); // Redis answered every verdict
}

/** Waits until every processor that lost Redis has said it is back (as many `is back` as `unavailable`). */
export async function allSharing(p: SharedProcessors, timeoutMs = 20_000): Promise<boolean> {
  const count = (s: string, re: RegExp) => s.match(re)?.length ?? 0;
  const sharing = () => p.stderr.every((e) => count(e, /^I! state: Redis .* is back/gm) >= count(e, /^W! state: Redis .* unavailable/gm));
  const deadline = Date.now() + timeoutMs;
  while (!sharing() && Date.now() < deadline) await sleep(100);
  return sharing();
}
