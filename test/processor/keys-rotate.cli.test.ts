/**
 * `meterproof keys rotate` (the built CLI): the old key ends and the new one starts at one time, so the
 * built processor accepts a hard-reset plug's Total restarting near zero as `ok`, not `rollback`; and the
 * `keys add`, `list` and `revoke` changes that go with it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Plug, deviceKey } from '../../sim/plug';
import { fingerprint } from '../../cli/keys';
import { runCli } from '../harness/cli';
import { decode, splitLines, tag } from '../harness/metrics';
import { runProcessor, tempDir } from '../harness/processor';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
const keyFile = (content: unknown) => {
  const f = join(dir, `keys-${++files}.json`);
  writeFileSync(f, JSON.stringify(content));
  return f;
};
const json = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
const rotate = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['keys', 'rotate', ...args], { env });

/** The plug before its hard reset, the same plug after it (new key pair, Total restarting near zero). */
const before = () => new Plug({ name: 'hall', energyRes: 3, startMicroKwh: 1_523_456 }, 'rotate-before');
const after = () => new Plug({ name: 'hall', energyRes: 3, startMicroKwh: 120 }, 'rotate-after');
const k1 = before().publicKeyHex;
const k2 = after().publicKeyHex;

/** The processor's verify_status for each reading, read through the built dist/processor.js. */
async function statuses(keys: string, readings: { plug: Plug; at: string }[]): Promise<string[]> {
  const input = readings
    .map(({ plug, at }, i) => {
      plug.consume(250);
      const r = plug.read(new Date(`${at}Z`));
      return telegrafLine(r.topic, r.payload, BigInt(Date.parse(`${at}Z`) + i) * 1_000_000n, { mode: 'json', topicTags: '_/device/_' });
    })
    .join('');
  const out = await runProcessor(['--keys', keys], input);
  expect(out.code).toBe(0);
  return splitLines(out.stdout).map((l) => tag(decode(l), 'verify_status')!);
}

const story = () => {
  const [old, reset] = [before(), after()];
  return [
    { plug: old, at: '2025-06-01T10:00:00' },
    { plug: old, at: '2025-06-01T11:59:50' },
    { plug: reset, at: '2025-06-01T12:00:00' },
    { plug: reset, at: '2025-06-01T12:05:00' },
  ];
};

describe('meterproof keys rotate', () => {
  it('ends the old key and starts the new one at --at, after showing the diff; the processor then calls the restart ok', async () => {
    const file = keyFile({ hall: k1, other: deviceKey('rotate', 'other').publicKeyHex });
    const r = await rotate(['--keys', file, '--device', 'hall', '--key', k2.toUpperCase(), '--at', '2025-06-01T12:00:00']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`changes to ${file} (at 2025-06-01T12:00:00, device-local time):`);
    expect(r.stdout).toContain(`  hall: ${k1.slice(0, 12)}… (fingerprint ${fingerprint(k1)}) always → … to 2025-06-01T12:00:00\n`);
    expect(r.stdout).toContain(`  hall: none → ${k2.slice(0, 12)}… (fingerprint ${fingerprint(k2)}) 2025-06-01T12:00:00 to …\n`);
    expect(r.stdout.indexOf('none →')).toBeLessThan(r.stdout.indexOf('added key'));
    expect(r.stdout).not.toContain('[y/N]');
    expect(json(file).hall).toEqual([
      { key: k1, not_after: '2025-06-01T12:00:00' },
      { key: k2, not_before: '2025-06-01T12:00:00', label: 'rotated in at 2025-06-01T12:00:00' },
    ]);
    expect(await statuses(file, story())).toEqual(['ok', 'ok', 'ok', 'ok']);

    // `keys add` without --not-before warns, and rightly: the same restart is then a rollback.
    const plain = keyFile({ hall: k1 });
    const add = await runCli(['keys', 'add', '--keys', plain, '--device', 'hall', '--key', k2]);
    expect(add.code).toBe(0);
    expect(add.stderr).toMatch(
      /^meterproof keys: warning: device "hall" already has a key and the new one has no --not-before: .*rollback/,
    );
    expect(await statuses(plain, story())).toEqual(['ok', 'ok', 'rollback', 'rollback']);
  });

  it('defaults --at to now on this machine, in its time zone, as Tasmota writes Time', async () => {
    const file = keyFile({ hall: k1 });
    const zone = 'Asia/Kathmandu'; // +05:45: no whole-hour accident can pass
    const r = await rotate(['--keys', file, '--device', 'hall', '--key', k2], { TZ: zone });
    expect(r.code).toBe(0);
    const at: string = json(file).hall[1].not_before;
    expect(json(file).hall[0].not_after).toBe(at);
    const local = new Date().toLocaleString('sv-SE', { timeZone: zone }).replace(' ', 'T');
    expect(Math.abs(Date.parse(`${local}Z`) - Date.parse(`${at}Z`))).toBeLessThan(60_000);
  });

  it('leaves revoked keys and keys already ended alone, and takes a bare date as its first second', async () => {
    const k3 = deviceKey('rotate', 'three').publicKeyHex;
    const file = keyFile({
      hall: [
        { key: k3, not_after: '2024-01-01' },
        { key: deviceKey('rotate', 'four').publicKeyHex, revoked: true },
        { key: k1, not_before: '2024-01-02', label: 'second plug' },
      ],
    });
    const r = await rotate(['--keys', file, '--device', 'hall', '--key', k2, '--at', '2025-06-01']);
    expect(r.code).toBe(0);
    const hall = json(file).hall;
    expect(hall[0]).toEqual({ key: k3, not_after: '2024-01-01' });
    expect(hall[1].revoked).toBe(true);
    expect(hall[2]).toEqual({ key: k1, not_before: '2024-01-02', not_after: '2025-06-01T00:00:00', label: 'second plug' });
    expect(hall[3]).toEqual({ key: k2, not_before: '2025-06-01T00:00:00', label: 'rotated in at 2025-06-01T00:00:00' });
  });

  it('exit 2 with one prefixed line, and the file untouched: refused key, unknown device, same key, bad time, key valid only later', async () => {
    const file = keyFile({ hall: [{ key: k1, not_before: '2025-07-01' }] });
    const original = readFileSync(file, 'utf8');
    const cases: [string[], RegExp][] = [
      [['--keys', file, '--device', 'hall', '--key', `01${'00'.repeat(31)}`], /key has small order/],
      [['--keys', file, '--device', 'hall', '--key', 'xyz'], /key is not 32 bytes of hex/],
      [
        ['--keys', file, '--device', 'nowhere', '--key', k2],
        /device "nowhere" has no key in .*: register its first key with `meterproof keys enroll`/,
      ],
      [['--keys', file, '--device', 'hall', '--key', k1], /device "hall" already has this key/],
      [['--keys', file, '--device', 'hall', '--key', k2, '--at', '2025-06-01 12:00'], /--at must be YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD/],
      [['--keys', file, '--device', 'hall', '--key', k2, '--at', '2025-02-30T00:00:00'], /--at must be/],
      [
        ['--keys', file, '--device', 'hall', '--key', k2, '--at', '2025-06-01T12:00:00'],
        /only becomes valid at 2025-07-01T00:00:00, after --at/,
      ],
      [['--keys', file, '--device', 'hall'], /--key HEX is required/],
      [['--keys', file, '--key', k2], /--device NAME is required/],
      [['--device', 'hall', '--key', k2], /--keys FILE is required/],
      [['--keys', file, '--device', 'hall', '--key', k2, 'extra'], /unexpected argument "extra"/],
    ];
    for (const [args, message] of cases) {
      const r = await rotate(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^meterproof keys rotate: [^\n]+\n$/);
      expect(r.stderr).toMatch(message);
    }
    expect(readFileSync(file, 'utf8')).toBe(original);
  });
});

describe('meterproof keys list, revoke and add', () => {
  it('list shows labels; revoke takes the fingerprint with or without colons, in either case', async () => {
    const file = keyFile({ hall: [{ key: k1, label: 'shop floor, left' }, { key: k2 }] });
    const list = await runCli(['keys', 'list', '--keys', file]);
    expect(list.stdout.split('\n')[0]).toMatch(/^device\s+fingerprint\s+key\s+valid\s+state\s+label$/);
    expect(list.stdout).toMatch(new RegExp(`hall\\s+${fingerprint(k1)}\\s+${k1.slice(0, 12)}…\\s+always\\s+active\\s+shop floor, left\\n`));

    const bare = fingerprint(k1).replace(/:/g, '').toUpperCase();
    const r = await runCli(['keys', 'revoke', '--keys', file, '--device', 'hall', '--fingerprint', bare]);
    expect(r.code).toBe(0);
    const withColons = await runCli([
      'keys',
      'revoke',
      '--keys',
      file,
      '--device',
      'hall',
      '--fingerprint',
      fingerprint(k2),
      '--not-after',
      '2025-01-01',
    ]);
    expect(withColons.code).toBe(0);
    expect(json(file).hall).toEqual([
      { key: k1, label: 'shop floor, left', revoked: true },
      { key: k2, not_after: '2025-01-01' },
    ]);
    const none = await runCli(['keys', 'revoke', '--keys', file, '--device', 'hall', '--fingerprint', '00:11:22:33:44:55:66:77']);
    expect(none.code).toBe(2);
  });

  it('add warns only for a second key without --not-before', async () => {
    const file = keyFile({});
    const first = await runCli(['keys', 'add', '--keys', file, '--device', 'hall', '--key', k1]);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('');
    const dated = await runCli(['keys', 'add', '--keys', file, '--device', 'hall', '--key', k2, '--not-before', '2025-06-01']);
    expect(dated.code).toBe(0);
    expect(dated.stderr).toBe('');
    const third = deviceKey('rotate', 'third').publicKeyHex;
    const undated = await runCli(['keys', 'add', '--keys', file, '--device', 'hall', '--key', third]);
    expect(undated.code).toBe(0);
    expect(undated.stderr).toMatch(/^meterproof keys: warning: [^\n]+\n$/);
    expect(undated.stderr).toMatch(/without|no --not-before/);
  });
});
