/**
 * Replay and rollback memory across restarts (--state), kill -9, two instances, and the key
 * lifecycle (reload on change and SIGHUP, rotation windows, revocation).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimulatedFleet, type FleetMessage } from '../../sim/fleet';
import { Plug, deviceKey } from '../../sim/plug';
import { parseState } from '../../processor/state-file';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';
import { collect, lineReader, runProcessor, startProcessor, tempDir, writeKeys } from '../harness/processor';
import { decode, splitLines, tag } from '../harness/metrics';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T0 = Date.UTC(2025, 0, 1);
const toLine = (m: { topic: string; payload: string }, i = 0) =>
  telegrafLine(m.topic, m.payload, BigInt(T0) * 1_000_000n + BigInt(i), { mode: 'json', topicTags: '_/device/_' });
const statuses = (out: Buffer) => splitLines(out).map((l) => tag(decode(l), 'verify_status'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fleetStream(seed: string, rounds: number, start = 0) {
  const fleet = new SimulatedFleet(
    [
      { name: 'a', energyRes: 3 },
      { name: 'b', energyRes: 2, phases: 3 },
      { name: 'c', energyRes: 1 },
    ],
    seed,
  );
  const msgs: FleetMessage[] = [];
  for (let r = 0; r < rounds; r++)
    msgs.push(...fleet.round(new Date(T0 + (start + r) * 60_000), { replayed: 0.1, rolled_back: 0.05, tampered: 0.03 }));
  return { fleet, msgs };
}

describe('replay and rollback memory', () => {
  it('gives every verdict right when the stream is split across two runs sharing --state', async () => {
    const { fleet, msgs } = fleetStream('split', 60);
    const keys = writeKeys(dir, fleet.publicKeys(), 'split-keys.json');
    const state = join(dir, 'split-state.json');
    const half = msgs.length / 2;
    const r1 = await runProcessor(['--keys', keys, '--state', state], msgs.slice(0, half).map(toLine).join(''));
    // Re-publish honest readings of the first run: only the memory on disk can catch them.
    const replays = msgs
      .slice(0, half)
      .filter((m) => m.expected === 'ok')
      .slice(0, 10)
      .map((m) => ({ ...m, expected: 'replay' as const }));
    const second = [...replays, ...msgs.slice(half)];
    const r2 = await runProcessor(['--keys', keys, '--state', state], second.map(toLine).join(''));
    expect([r1.code, r2.code]).toEqual([0, 0]);
    expect([...statuses(r1.stdout), ...statuses(r2.stdout)]).toEqual([...msgs.slice(0, half), ...second].map((m) => m.expected));
    expect(existsSync(`${state}.lock`)).toBe(false);
  });

  it('keeps a valid state file through kill -9 at random moments under load, and restarts correctly', async () => {
    const { fleet, msgs } = fleetStream('kill', 4000); // ~1 s of work: kills land mid-stream
    const keys = writeKeys(dir, fleet.publicKeys(), 'kill-keys.json');
    const state = join(dir, 'kill-state.json');
    const input = msgs.map(toLine).join('');
    // Kill when a chosen number of metrics has come out (load makes wall-clock delays meaningless).
    for (const [after, extraMs] of [
      [300, 0],
      [2500, 7],
      [6000, 31],
      [1200, 13],
    ] as const) {
      const child = startProcessor(['--keys', keys, '--state', state, '--state-interval', '50', '--crypto', 'node']);
      const done = collect(child);
      let seen = 0;
      const reached = new Promise<void>((resolve) =>
        child.stdout.on('data', (d: Buffer) => {
          for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) if (++seen === after) resolve();
        }),
      );
      child.stdin.write(input);
      await reached;
      await sleep(extraMs);
      child.kill('SIGKILL');
      await done;
      // Written at most --state-interval ago, so possibly not yet after the first kill; never torn.
      if (existsSync(state)) expect(() => parseState(readFileSync(state, 'utf8'))).not.toThrow();
    }
    expect(existsSync(state)).toBe(true);
    // After the kills: the next run takes over the stale lock, replays of anything up to the
    // remembered time are caught, and newer readings are accepted.
    const remembered = new Map(parseState(readFileSync(state, 'utf8')).map(([d, a]) => [d, a.time19]));
    expect(remembered.size).toBe(3);
    const old = msgs.filter((m) => m.expected === 'ok').slice(0, 6);
    const { msgs: later } = fleetStream('kill', 4005);
    const fresh = later.slice(msgs.length).filter((m) => m.fault === 'none');
    const r = await runProcessor(['--keys', keys, '--state', state], [...old, ...fresh].map(toLine).join(''));
    expect(r.stderr).not.toMatch(/held by another/);
    expect(statuses(r.stdout)).toEqual([...old.map(() => 'replay'), ...fresh.map(() => 'ok')]);
  });

  it('lets a second instance run without persistence, saying so once', async () => {
    const { fleet, msgs } = fleetStream('two', 4);
    const keys = writeKeys(dir, fleet.publicKeys(), 'two-keys.json');
    const state = join(dir, 'two-state.json');
    const first = startProcessor(['--keys', keys, '--state', state]);
    const firstDone = collect(first);
    const firstOut = lineReader(first);
    first.stdin.write(toLine(msgs[0]!));
    await firstOut();
    const second = await runProcessor(['--keys', keys, '--state', state], msgs.slice(1).map(toLine).join(''));
    expect(second.code).toBe(0);
    expect(second.stderr.match(/^W! state: .*held by another running instance.*$/gm)?.length).toBe(1);
    first.stdin.end();
    await firstDone;
    // The file holds the first instance's memory only.
    const saved = parseState(readFileSync(state, 'utf8'));
    expect(saved.map(([d]) => d)).toEqual([msgs[0]!.device]);
  });

  it('starts fresh, with an E! line, from a corrupt state file', async () => {
    const { fleet, msgs } = fleetStream('corrupt', 2);
    const keys = writeKeys(dir, fleet.publicKeys(), 'corrupt-keys.json');
    const state = join(dir, 'corrupt-state.json');
    writeFileSync(state, '{"version":1,"devices":{"a":{"time":');
    const r = await runProcessor(
      ['--keys', keys, '--state', state],
      msgs
        .filter((m) => m.fault === 'none')
        .map(toLine)
        .join(''),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^E! state: .*corrupt-state\.json is not a valid state file .*; starting fresh$/m);
    expect(statuses(r.stdout).every((s) => s === 'ok')).toBe(true);
    expect(() => parseState(readFileSync(state, 'utf8'))).not.toThrow();
  });
});

describe('key lifecycle', () => {
  const plug = new Plug({ name: 'newcomer', energyRes: 3 }, 'keys');
  let n = 0;
  const reading = () => {
    plug.consume(100);
    return toLine(plug.read(new Date(T0 + ++n * 1000)), n);
  };

  it('uses a key added to the file while running within 2 s, losing no metric; a broken file changes nothing', async () => {
    const file = writeKeys(dir, {}, 'live-keys.json');
    const child = startProcessor(['--keys', file, '--reload-interval', '200']);
    const next = lineReader(child);
    const done = collect(child);
    const send = async () => (child.stdin.write(reading()), tag(decode(Buffer.from(await next())), 'verify_status'));
    expect(await send()).toBe('unknown_device');
    writeFileSync(`${file}.tmp`, JSON.stringify({ newcomer: plug.publicKeyHex }));
    renameSync(`${file}.tmp`, file);
    const added = Date.now();
    let status = await send();
    while (status !== 'ok' && Date.now() - added < 2000) {
      await sleep(50);
      status = await send();
    }
    expect(status).toBe('ok');
    expect(Date.now() - added).toBeLessThan(2000);
    writeFileSync(file, '{"newcomer": "oops",\n  broken');
    await sleep(600);
    expect(await send()).toBe('ok');
    child.stdin.end();
    const r = await done;
    expect(r.stderr).toMatch(
      /^E! keys: .*live-keys\.json: not valid JSON at line 2, column \d+: .*; keeping the last good keys \(1 devices\)$/m,
    );
  });

  it('reloads on SIGHUP', async () => {
    const file = writeKeys(dir, { other: deviceKey('keys', 'other').publicKeyHex }, 'hup-keys.json');
    const child = startProcessor(['--keys', file, '--reload-interval', '60000']);
    const next = lineReader(child);
    const done = collect(child);
    child.stdin.write(reading());
    expect(tag(decode(Buffer.from(await next())), 'verify_status')).toBe('unknown_device');
    writeFileSync(file, JSON.stringify({ newcomer: plug.publicKeyHex }));
    child.kill('SIGHUP');
    await sleep(200);
    child.stdin.write(reading());
    expect(tag(decode(Buffer.from(await next())), 'verify_status')).toBe('ok');
    child.stdin.end();
    expect((await done).stderr).toMatch(/^I! keys: reloaded 1 keys for 1 devices/m);
  });

  it('accepts a signature only from a key valid at the signed Time (rotation after a hard reset, revocation)', async () => {
    const before = new Plug({ name: 'rotated', energyRes: 3, startMicroKwh: 5_000_000 }, 'before-reset');
    const after = new Plug({ name: 'rotated', energyRes: 3, startMicroKwh: 0 }, 'after-reset'); // the counter restarted too
    const at = (h: number) => new Date(Date.UTC(2025, 3, 1, h));
    const file = writeKeys(
      dir,
      {
        rotated: [
          { key: before.publicKeyHex, not_after: '2025-04-01T10:00:00', label: 'factory' },
          { key: after.publicKeyHex, not_before: '2025-04-01T10:00:00', label: 'after hard reset' },
        ],
        revoked: [{ key: deviceKey('r', 'revoked').publicKeyHex, revoked: true }],
      },
      'rotation.json',
    );
    const revokedPlug = new Plug({ name: 'revoked' }, 'r');
    const lines = [
      before.read(at(9)), // old key, inside its window
      before.read(at(11)), // old key after not_after: someone holding the old key
      after.read(at(12)), // new key, lower Total: a new counter, not a rollback
      before.read(at(8)), // an old reading, replayed
      revokedPlug.read(at(12)),
    ].map((r) => toLine(r));
    const r = await runProcessor(['--keys', file], lines.join(''));
    expect(statuses(r.stdout)).toEqual(['ok', 'bad_signature', 'ok', 'replay', 'bad_signature']);
    expect(r.stderr).toMatch(/no key valid at 2025-04-01T12:00:00 \(revoked/);
  });

  it('still catches a rollback when two keys of a device are valid at once', async () => {
    const k1 = new Plug({ name: 'twokeys', energyRes: 3, startMicroKwh: 500_000 }, 'k1');
    const k2 = new Plug({ name: 'twokeys', energyRes: 3, startMicroKwh: 500_000 }, 'k2');
    const file = writeKeys(dir, { twokeys: [k1.publicKeyHex, k2.publicKeyHex] }, 'twokeys.json');
    const at = (m: number) => new Date(Date.UTC(2025, 5, 1, 10, m));
    k2.consume(10);
    const first = k2.read(at(0)); // K2: 5.001 accepted
    k1.consume(100_000_000); // K1, leaked, claims 1005
    const high = k1.read(at(1));
    k2.consume(100);
    const low = k2.read(at(2)); // K2 again, far below 1005: a rollback, whichever key signed it
    const r = await runProcessor(['--keys', file], [first, high, low].map((x) => toLine(x)).join(''));
    expect(statuses(r.stdout)).toEqual(['ok', 'ok', 'rollback']);
  });

  it('hints once per device at a hard reset when a registered device stops verifying', async () => {
    const file = writeKeys(dir, { reset: deviceKey('old', 'reset').publicKeyHex }, 'hint.json');
    const resetPlug = new Plug({ name: 'reset' }, 'new');
    const input = [1, 2, 3].map((h) => toLine(resetPlug.read(new Date(T0 + h * 1000)))).join('');
    const r = await runProcessor(['--keys', file], input);
    expect(statuses(r.stdout)).toEqual(['bad_signature', 'bad_signature', 'bad_signature']);
    expect(r.stderr.match(/hard-reset/g)?.length).toBe(1);
    expect(r.stderr).toContain('meterproof keys rotate --keys <key file> --device reset --key <new key>');
  });
});
