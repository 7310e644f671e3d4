/**
 * The processor inside Telegraf (docs/design.md §3): one metric out per metric in, at once, in order; never
 * a crash; clean shutdown; weak keys refused at load; invalid lines passed through untouched.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { Plug } from '../../sim/plug';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';
import { collect, lineReader, runProcessor, startProcessor, tempDir, writeKeys } from '../harness/processor';
import { decode, splitLines, tag } from '../harness/metrics';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const plug = new Plug({ name: 'p1', energyRes: 3 }, 'behaviour');
const keys = writeKeys(dir, { p1: plug.publicKeyHex });
const T0 = Date.UTC(2025, 5, 1);
const lineAt = (i: number, p = plug) => {
  p.consume(10);
  const r = p.read(new Date(T0 + i * 1000));
  return telegrafLine(r.topic, r.payload, BigInt(T0 + i) * 1_000_000n, { mode: 'json', topicTags: '_/device/_' });
};
const peakRssKb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

describe('processor behaviour inside Telegraf', () => {
  it('emits a lone metric at once, without waiting for more input or for EOF', async () => {
    const child = startProcessor(['--keys', keys]);
    const next = lineReader(child);
    child.stdin.write(lineAt(0));
    expect(tag(decode(Buffer.from(await next())), 'verify_status')).toBe('ok');
    child.stdin.write(lineAt(1));
    expect(tag(decode(Buffer.from(await next())), 'verify_status')).toBe('ok');
    const done = collect(child);
    child.stdin.end();
    expect((await done).code).toBe(0);
  });

  it('writes all of a burst once input rests, without waiting for more input or for EOF', async () => {
    // 3,000 signed lines at once go to the worker threads; the last answers must still come out unprompted.
    const child = startProcessor(['--keys', keys]);
    const next = lineReader(child);
    child.stdin.write(Array.from({ length: 3000 }, (_, i) => lineAt(20_000 + i)).join(''));
    const sent = Date.now();
    const statuses: string[] = [];
    for (let i = 0; i < 3000; i++) statuses.push(tag(decode(Buffer.from(await next())), 'verify_status')!);
    expect(Date.now() - sent).toBeLessThan(3000);
    expect(statuses.every((s) => s === 'ok')).toBe(true);
    const done = collect(child);
    child.stdin.end();
    expect((await done).code).toBe(0);
  });

  it('on stdin EOF drains everything and exits 0 within 5 s', async () => {
    const input = Array.from({ length: 5000 }, (_, i) => lineAt(100 + i)).join('');
    const child = startProcessor(['--keys', keys]);
    const done = collect(child);
    child.stdin.end(input);
    const closed = Date.now();
    const r = await done;
    expect(r.code).toBe(0);
    expect(Date.now() - closed).toBeLessThan(5000);
    expect(splitLines(r.stdout).length).toBe(5000);
  });

  it('on SIGTERM finishes what it has read and exits 0', async () => {
    const child = startProcessor(['--keys', keys]);
    const next = lineReader(child);
    const done = collect(child);
    child.stdin.write(lineAt(10_000));
    await next();
    child.kill('SIGTERM');
    const r = await done;
    expect([r.code, r.signal]).toEqual([0, null]);
  });

  it('refuses to start without a readable key file, saying why', async () => {
    const r = await runProcessor(['--keys', `${dir}/missing.json`], '');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^E! keys: .*missing\.json: cannot read: ENOENT; cannot start without a key registry$/m);
  });

  it('refuses weak and malformed keys at load with one line naming the device, and keeps the rest', async () => {
    const identity = `01${'00'.repeat(31)}`;
    const file = writeKeys(dir, { evil: identity, typo: 'abc', offcurve: `02${'00'.repeat(31)}`, p1: plug.publicKeyHex }, 'weak.json');
    // Under the identity "key", R = identity and S = 0 verifies any message with OpenSSL (docs/design.md §5).
    const forged = `{"Time":"2025-06-01T00:00:00","Signature":"${identity}${'00'.repeat(32)}","ENERGY":{"Total":1.000}}`;
    const input = telegrafLine('tele/evil/SENSOR', forged, 1n, { mode: 'json', topicTags: '_/device/_' }) + lineAt(20_000);
    for (const crypto of ['node', 'auto']) {
      const r = await runProcessor(['--keys', file, '--crypto', crypto], input);
      expect(r.stderr).toMatch(/^E! keys: .*weak\.json: rejected device "evil": key has small order.*$/m);
      expect(r.stderr).toMatch(/^E! keys: .*rejected device "typo": key is not 32 bytes of hex.*$/m);
      expect(r.stderr).toMatch(/^E! keys: .*rejected device "offcurve": key is not a valid Ed25519 point.*$/m);
      const out = splitLines(r.stdout).map((l) => tag(decode(l), 'verify_status'));
      expect(out).toEqual(['unknown_device', 'ok']);
    }
  });

  it('passes lines that are not line protocol through byte-for-byte, invalid UTF-8 included, and rate-limits the warning', async () => {
    const bad = [
      Buffer.from('this is not line protocol\n'),
      Buffer.from([0x6d, 0x20, 0x76, 0x3d, 0xff, 0xfe, 0x0a]),
      Buffer.from('m,a=1 v=NaN 1\n'),
    ];
    const good = Buffer.from(lineAt(30_000));
    const input = Buffer.concat([...Array.from({ length: 300 }, (_, i) => bad[i % 3]!), good]);
    const r = await runProcessor(['--keys', keys], input);
    const lines = splitLines(r.stdout);
    expect(lines.length).toBe(301);
    expect(Buffer.concat(lines.slice(0, 300).map((l) => Buffer.concat([l, Buffer.from('\n')])))).toEqual(
      input.subarray(0, input.length - good.length),
    );
    expect(tag(decode(lines[300]!), 'verify_status')).toBe('ok');
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('W! passing through'));
    expect(warnings.length).toBe(5);
    expect(r.stderr).toMatch(/^W! suppressed 295 more "invalid-line" messages$/m);
    expect(r.stderr.split('\n').every((l) => l === '' || /^[EWID]! /.test(l))).toBe(true);
  });

  it('gives exactly 100,000 metrics for 100,000 in, in order, with malformed input mixed in, in flat memory', async () => {
    const child = startProcessor(['--keys', keys]);
    const done = collect(child);
    let seq = 0;
    const batch = (n: number) => {
      const lines: string[] = [];
      for (let i = 0; i < n; i++, seq++) {
        if (seq % 10 === 3) lines.push(`broken line ${seq} without fields\n`);
        else if (seq % 10 === 7) lines.push(`mqtt_consumer,device=p1,seq=${seq} Signature="zz",Time="x",ENERGY_Total=1 ${seq}\n`);
        else
          lines.push(
            `${lineAt(40_000 + seq)
              .slice(0, -1)
              .replace('mqtt_consumer,', `mqtt_consumer,seq=${seq},`)}\n`,
          );
      }
      return lines.join('');
    };
    for (let k = 0; k < 4; k++) await new Promise<void>((r) => child.stdin.write(batch(10_000), () => r()));
    await new Promise((r) => setTimeout(r, 2000));
    const early = peakRssKb(child.pid!);
    for (let k = 0; k < 6; k++) await new Promise<void>((r) => child.stdin.write(batch(10_000), () => r()));
    await new Promise((r) => setTimeout(r, 500));
    const late = peakRssKb(child.pid!);
    child.stdin.end();
    const r = await done;
    const out = splitLines(r.stdout);
    expect(out.length).toBe(100_000);
    out.forEach((l, i) => {
      if (i % 10 === 3) expect(l.toString()).toBe(`broken line ${i} without fields`);
      else {
        const m = decode(l);
        expect(tag(m, 'seq')).toBe(String(i));
        expect(tag(m, 'verify_status')).toBe(i % 10 === 7 ? 'malformed' : 'ok');
      }
    });
    // Flat: after the first 40,000 (worker threads started, heaps grown), 60,000 more cost no more memory.
    expect(late - early).toBeLessThan(24 * 1024);
  }, 120_000);
});

describe('shutdown as Telegraf does it, and operational output', () => {
  /** Telegraf's stop: close stdin, wait 5 s, SIGTERM, wait 5 s, SIGKILL. Returns the step that ended it. */
  async function telegrafStop(
    child: ReturnType<typeof startProcessor>,
  ): Promise<{ step: 'eof' | 'sigterm' | 'sigkill'; code: number | null }> {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const within = (ms: number) =>
      Promise.race([exited.then((code) => ({ code })), new Promise<null>((r) => setTimeout(() => r(null), ms))]);
    child.stdin.end();
    let r = await within(5000);
    if (r) return { step: 'eof', code: r.code };
    child.kill('SIGTERM');
    r = await within(5000);
    if (r) return { step: 'sigterm', code: r.code };
    child.kill('SIGKILL');
    return { step: 'sigkill', code: await exited };
  }

  it('exits 0 at the first step, under load, with every metric out and its state saved', async () => {
    const state = `${dir}/stop-state.json`;
    const child = startProcessor(['--keys', keys, '--state', state]);
    const done = collect(child);
    child.stdin.write(Array.from({ length: 8000 }, (_, i) => lineAt(200_000 + i)).join(''));
    const stop = await telegrafStop(child);
    expect(stop).toEqual({ step: 'eof', code: 0 });
    expect(splitLines((await done).stdout).length).toBe(8000);
    expect(JSON.parse(readFileSync(state, 'utf8')).devices.p1.time).toBe(new Date(T0 + (200_000 + 7999) * 1000).toISOString().slice(0, 19));
  });

  it('logs an I! summary and, with --stats-interval, emits a meterproof metric beyond one-for-one', async () => {
    const child = startProcessor(['--keys', keys, '--summary-interval', '1', '--stats-interval', '1']);
    const done = collect(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.write(lineAt(300_000) + lineAt(300_000) + 'cpu usage=1 1\n');
    // Both reports come after their interval; a loaded machine may take longer, so wait for them, not for a fixed time.
    const deadline = Date.now() + 15_000;
    while ((!/^meterproof /m.test(out) || !/^I! summary: /m.test(err)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    child.stdin.end();
    const r = await done;
    const lines = splitLines(r.stdout).map(decode);
    const stats = lines.filter((m) => m.name === 'meterproof');
    expect(lines.length - stats.length).toBe(3);
    expect(stats.length).toBeGreaterThanOrEqual(1);
    expect(Object.fromEntries(stats[0]!.fields)).toMatchObject({
      ok: { int: 1n },
      replay: { int: 1n },
      unsigned: { int: 1n },
      devices: { int: 1n },
    });
    expect(r.stderr).toMatch(/^I! summary: (unsigned=1 replay=1 ok=1|.*ok=1.*); devices=1 invalid_lines=0 key_reloads=0$/m);
  });
});
