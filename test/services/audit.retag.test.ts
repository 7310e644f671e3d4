/**
 * After a key rotation the audit stays a usable alarm (issue 14): a plug is hard-reset and makes a new
 * key; its readings are tagged bad_signature by the built processor until `keys rotate` registers the
 * new key (the old one ends at the reset time, the new one starts there). On a real InfluxDB, the audit
 * reports those rows as verified later (exit 0), `--retag --yes` rewrites them as the processor would
 * have written them, and the next audit is clean; forged, demoted and replayed rows are never let
 * through.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completion, runCli, type CliResult } from '../harness/cli';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';
import { requireBinary } from '../harness/ports';
import { requireBuild, runProcessor } from '../harness/processor';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';
import { Plug, type PlugReading } from '../../sim/plug';
import { RowWriter } from '../../audit/retag';
import { auditSelect } from '../../audit/select';

interface Later {
  time: string;
  device: string;
  status: string;
  signedMessage: string;
  key: string;
  notBefore: string;
  retag: boolean;
  left?: string;
}
interface Report {
  rows: number;
  disagreements: number;
  byKind: Record<string, number>;
  verifiedLater: { rows: number; retaggable: number; list: Later[] };
  retagged?: { rows: number; declined?: boolean; error?: string; list: { time: string; device: string; signedMessage: string }[] };
  devices: { device: string; disagreements: number; verifiedLater: number }[];
  examples: { kind: string; detail: string }[];
}

/** The hard reset: the old key's last second and the new key's first (inclusive bounds, like `keys rotate`). */
const RESET = '2024-03-01T00:01:00';
const at = (hhmmss: string) => new Date(`2024-03-01T${hhmmss}Z`);

// Their keys; each story below runs plugs of its own with the same seeds.
const plugA = new Plug({ name: 'plug-r', energyRes: 3, startMicroKwh: 5_000_000 }, 'rotation-before-reset');
/** The same plug after its hard reset: another key, and Total starting over near zero. */
const plugB = new Plug({ name: 'plug-r', energyRes: 3, startMicroKwh: 100 }, 'rotation-after-reset');
/** A plug nobody had registered: unknown_device until it is, with a not_before. */
const plugU = new Plug({ name: 'plug-u', energyRes: 2 }, 'rotation-unregistered');

const keysBefore = { 'plug-r': plugA.publicKeyHex };
const keysAfter = {
  'plug-r': [
    { key: plugA.publicKeyHex, not_after: RESET, label: 'factory key' },
    { key: plugB.publicKeyHex, not_before: RESET, label: 'after hard reset' },
  ],
  'plug-u': [{ key: plugU.publicKeyHex, not_before: '2024-03-01T00:00:00' }],
};

function reading(plug: Plug, hhmmss: string, units = 1000): PlugReading {
  plug.consume(units);
  return plug.read(at(hhmmss));
}

/** Messages before the rotation (only key A known) and after it, in arrival order. */
function story(attacks: boolean) {
  // Fresh counters for each story; the same seeds, so the same keys (and signatures) as above.
  const A = new Plug({ name: 'plug-r', energyRes: 3, startMicroKwh: 5_000_000 }, 'rotation-before-reset');
  const B = new Plug({ name: 'plug-r', energyRes: 3, startMicroKwh: 100 }, 'rotation-after-reset');
  const U = new Plug({ name: 'plug-u', energyRes: 2 }, 'rotation-unregistered');
  const before: PlugReading[] = [];
  for (const s of ['00', '10', '20', '30', '40', '50']) {
    before.push(reading(A, `00:00:${s}`));
    if (s === '00' || s === '20' || s === '40') before.push(reading(U, `00:00:${String(Number(s) + 5).padStart(2, '0')}`, 700));
  }
  // The hard reset at 00:01:00: key B, Total near zero. Until rotation, the processor knows only key A.
  const window: PlugReading[] = ['00:01:10', '00:01:20', '00:01:30', '00:01:40', '00:01:50'].map((t) => reading(B, t, 500));
  const replayed = window[2]!;
  const tampered = { ...window[3]!, payload: window[3]!.payload.replace(/"Total":[\d.]+/, '"Total":0.999') };
  before.push(...window.slice(0, 3), ...(attacks ? [replayed] : []), attacks ? tampered : window[3]!, window[4]!);
  const after = ['00:02:00', '00:02:10', '00:02:20', '00:02:30'].map((t) => reading(B, t, 500));
  after.splice(1, 0, reading(U, '00:02:05', 700));
  return { before, after, window, replayed, tampered };
}

/** Both runs of the built processor, sharing a state file, as Telegraf would feed them; the stored lines. */
async function processed(dir: string, name: string, attacks: boolean, firstNs: bigint) {
  const s = story(attacks);
  const keys1 = join(dir, `${name}-keys-before.json`);
  const keys2 = join(dir, `${name}-keys-after.json`);
  const state = join(dir, `${name}-state.json`);
  await writeFile(keys1, JSON.stringify(keysBefore));
  await writeFile(keys2, JSON.stringify(keysAfter));
  let t = firstNs;
  const lines: string[] = [];
  for (const [keys, readings] of [
    [keys1, s.before],
    [keys2, s.after],
  ] as const) {
    const input = readings.map((r) => telegrafLine(r.topic, r.payload, (t += 1_000_000_000n), { mode: 'json', topicTags: '_/device/_' }));
    const res = await runProcessor(['--keys', keys, '--state', state, '--workers', '0'], input.join(''));
    if (res.code !== 0) throw new Error(`processor exited ${res.code}: ${res.stderr}`);
    lines.push(...res.stdout.toString().split('\n').filter(Boolean));
  }
  if (lines.length !== s.before.length + s.after.length) throw new Error(`processor wrote ${lines.length} lines`);
  return { ...s, lines, keysPath: keys2, lastNs: t };
}

const statusOf = (line: string) => /,verify_status=(\w+)/.exec(line)![1]!;
const timeOf = (line: string) => BigInt(/ (\d+)$/.exec(line)![1]!);
/** Nanoseconds as InfluxDB answers them: RFC 3339 with the fraction's trailing zeros trimmed. */
function rfc3339(ns: bigint): string {
  const seconds = new Date(Number(ns / 1_000_000_000n) * 1000).toISOString().slice(0, 19);
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${seconds}${fraction && `.${fraction}`}Z`;
}

describe('audit after a key rotation', () => {
  let influx: InfluxServer;
  let dir: string;
  let clean: Awaited<ReturnType<typeof processed>>;
  let attacked: Awaited<ReturnType<typeof processed>>;
  let demotedTotal: number;
  let copiedTotal: number;
  const audit = (db: string, ...extra: string[]) => runCli(['audit', '--url', influx.url, '--db', db, '--keys', clean.keysPath, ...extra]);
  const json = (res: CliResult) => JSON.parse(res.stdout) as Report;
  /** Stored rows of plug-r and plug-u: time, verified, verify_status, signed_message, Total. */
  const stored = async (db: string) => {
    const [r] = await influx.query(
      'SELECT "verified"::tag, "verify_status"::tag, "device"::tag, "signed_message"::field, "ENERGY_Total"::field, "host"::tag FROM "mqtt_consumer"',
      db,
    );
    return (r?.series?.[0]?.values ?? []).map(([time, verified, status, device, signedMessage, total, host]) => ({
      time,
      verified,
      status,
      device,
      signedMessage,
      total,
      host,
    }));
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meterproof-retag-'));
    const firstNs = BigInt(Date.now() - 3_600_000) * 1_000_000n;
    [influx, clean, attacked] = await Promise.all([
      startInfluxDB(),
      processed(dir, 'clean', false, firstNs),
      processed(dir, 'attacked', true, firstNs),
    ]);
    for (const db of ['rotation', 'attacked', 'declined']) await influx.query(`CREATE DATABASE "${db}"`);
    await influx.write('rotation', clean.lines.join('\n'));
    await influx.write('declined', clean.lines.join('\n'));
    // Someone with write access, after the rotation: a forged verified row; a verified row of the new key
    // demoted in place (its ok point deleted); and a demoted copy of another, stored after the last reading.
    const okB = attacked.lines.filter((l) => l.includes('device=plug-r') && l.includes('verify_status=ok') && /00:02:/.test(l));
    const forged = okB[0]!.replace(/([ ,])ENERGY_Total=[^, ]+/, '$1ENERGY_Total=12.5').replace(/,signed_message="[^"]*"/, '');
    const demote = (line: string) =>
      line
        .replace(',verified=true,verify_status=ok ', ',verified=false,verify_status=bad_signature ')
        .replace(/,signed_message="[^"]*"/, '');
    const retime = (line: string, ns: bigint) => line.replace(/ \d+$/, ` ${ns}`);
    const demotedInPlace = demote(okB[1]!);
    await influx.write(
      'attacked',
      [
        ...attacked.lines.filter((l) => l !== okB[1]),
        demotedInPlace,
        retime(forged, attacked.lastNs + 10n ** 9n),
        retime(demote(okB[2]!), attacked.lastNs + 2n * 10n ** 9n),
      ].join('\n'),
    );
    demotedTotal = Number(/[ ,]ENERGY_Total=([^, ]+)/.exec(demotedInPlace)![1]);
    copiedTotal = Number(/[ ,]ENERGY_Total=([^, ]+)/.exec(okB[2]!)![1]);
  });

  afterAll(async () => {
    await influx?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the built processor tagged the readings between the reset and the rotation bad_signature, and ok after it', () => {
    const plugR = clean.lines.filter((l) => l.includes('device=plug-r'));
    expect(plugR.map(statusOf)).toEqual([...Array(6).fill('ok'), ...Array(5).fill('bad_signature'), ...Array(4).fill('ok')]);
    expect(clean.lines.filter((l) => l.includes('device=plug-u')).map(statusOf)).toEqual([...Array(3).fill('unknown_device'), 'ok']);
    expect(
      attacked.lines
        .filter((l) => l.includes('device=plug-r'))
        .map(statusOf)
        .slice(6, 12),
    ).toEqual(Array(6).fill('bad_signature'));
  });

  it('reports them as verified later, not as disagreements: exit 0', async () => {
    const res = await audit('rotation', '--json');
    expect(res.code, res.stderr).toBe(0);
    const report = json(res);
    expect(report.disagreements).toBe(0);
    expect(report.byKind).toEqual({ forged_verified: 0, rejected_but_valid: 0, message_mismatch: 0 });
    expect(report.verifiedLater).toMatchObject({ rows: 8, retaggable: 8 });
    const windowRows = report.verifiedLater.list.filter((v) => v.device === 'plug-r');
    expect(windowRows.map((v) => v.signedMessage)).toEqual(clean.window.map((r) => r.message));
    for (const v of windowRows)
      expect(v).toMatchObject({ status: 'bad_signature', key: plugB.publicKeyHex, notBefore: RESET, retag: true });
    expect(report.verifiedLater.list.filter((v) => v.device === 'plug-u')).toEqual(
      Array(3).fill(expect.objectContaining({ status: 'unknown_device', notBefore: '2024-03-01T00:00:00', retag: true })),
    );
    expect(report.devices.map((d) => [d.device, d.disagreements, d.verifiedLater])).toEqual([
      ['plug-r', 0, 5],
      ['plug-u', 0, 3],
    ]);

    const table = await audit('rotation');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/DISAGREEMENTS +VERIFIED LATER/);
    expect(table.stdout).toContain('Every row agrees with its stored verified tag, apart from the rows verified later below.');
    expect(table.stdout).toContain('Verified later: 8 rows rejected when stored');
    expect(table.stdout).toContain(
      `plug-r  bad_signature  "${clean.window[0]!.message}"  key ${plugB.publicKeyHex.slice(0, 16)}… from ${RESET}: re-taggable`,
    );
  });

  it('a key without not_before explains no rejection: the rows it proves stay rejected_but_valid (exit 1)', async () => {
    // Key B registered without not_before (plain `keys add`): rows it proves stay rejected_but_valid.
    const plain = join(dir, 'plain-keys.json');
    await writeFile(plain, JSON.stringify({ 'plug-r': [plugA.publicKeyHex, plugB.publicKeyHex], 'plug-u': plugU.publicKeyHex }));
    const noWindow = await runCli(['audit', '--url', influx.url, '--db', 'rotation', '--keys', plain, '--json']);
    expect(noWindow.code).toBe(1);
    expect(json(noWindow)).toMatchObject({ disagreements: 8, byKind: { rejected_but_valid: 8 }, verifiedLater: { rows: 0 } });
  });

  it('--retag refuses to run unasked when stdin is not a terminal (exit 2), and changes nothing', async () => {
    const before = await stored('rotation');
    const res = await audit('rotation', '--retag');
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      'meterproof audit: --retag rewrites rows in InfluxDB, and stdin is not a terminal to confirm on: add --yes to re-tag without asking\n',
    );
    expect(res.stdout).toBe('');
    expect(await stored('rotation')).toEqual(before);
  });

  it('on a terminal, --retag asks, and a "no" changes nothing', async () => {
    await requireBinary('/usr/bin/script', 'bsdutils');
    const before = await stored('declined');
    const res = await onTerminal(['audit', '--url', influx.url, '--db', 'declined', '--keys', clean.keysPath, '--retag'], 'n');
    expect(res.code, res.stdout).toBe(0);
    expect(res.stdout).toMatch(
      /Re-tag 8 verified-later rows in "mqtt_consumer" of database "declined" at http:\/\/127\.0\.0\.1:\d+ .*\? \[y\/N\] /,
    );
    expect(res.stdout).toContain('Not re-tagged.');
    expect(await stored('declined')).toEqual(before);
  });

  it('--retag --yes rewrites them as verified, deletes exactly the old points, and the next audit is clean', async () => {
    const res = await audit('rotation', '--retag', '--yes', '--json');
    expect(res.code, res.stderr).toBe(0);
    const report = json(res);
    expect(report.retagged!.rows).toBe(8);
    expect(report.retagged!.list.map((r) => r.signedMessage).filter((m) => clean.window.some((w) => w.message === m))).toHaveLength(5);

    const rows = await stored('rotation');
    expect(rows).toHaveLength(clean.lines.length); // one point per reading: none lost, none doubled
    const windowTimes = new Set(
      clean.lines.filter((l) => statusOf(l) === 'bad_signature' || statusOf(l) === 'unknown_device').map((l) => rfc3339(timeOf(l))),
    );
    expect(windowTimes.size).toBe(8);
    const rewritten = rows.filter((r) => windowTimes.has(r.time as string));
    expect(rewritten).toHaveLength(8);
    for (const r of rewritten) expect(r).toMatchObject({ verified: 'true', status: 'ok', host: 'telegraf-host' });
    const messages = new Map(report.verifiedLater.list.map((v) => [v.time, v.signedMessage]));
    for (const r of rewritten) expect(r.signedMessage).toBe(messages.get(r.time as string));
    expect(rows.filter((r) => r.status === 'bad_signature' || r.status === 'unknown_device')).toEqual([]);
    // The Totals are the stored ones: the new key's counter starting near zero.
    expect(rewritten.filter((r) => r.device === 'plug-r').map((r) => r.total)).toEqual(clean.window.map((w) => Number(w.totalText)));

    const again = await audit('rotation', '--json');
    expect(again.code).toBe(0);
    expect(json(again)).toMatchObject({ disagreements: 0, verifiedLater: { rows: 0, retaggable: 0, list: [] } });
    const table = await audit('rotation');
    expect(table.stdout).toContain('Every row agrees with its stored verified tag.');
    const nothing = await audit('rotation', '--retag', '--yes');
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain('Re-tagged 0 rows in "mqtt_consumer"');
  });

  it('the DELETE (::tag, every tag key, exact time) removes exactly the old point on InfluxDB 1.6', async () => {
    await influx.query('CREATE DATABASE "exact"');
    const ns = 1_709_251_200_123_456_789n;
    const tags = 'device=d,host=h';
    await influx.write(
      'exact',
      [
        `m,${tags},verified=false,verify_status=bad_signature v=1 ${ns}`, // the old point
        `m,${tags},verified=true,verify_status=ok v=1 ${ns}`, // its corrected copy
        `m,${tags},site=x,verified=false,verify_status=bad_signature v=2 ${ns}`, // one more tag
        `m,${tags},verified=false,verify_status=bad_signature v=3 ${ns + 1n}`, // a nanosecond later
        `m,device=e,host=h,verified=false,verify_status=bad_signature v=4 ${ns}`, // another device
      ].join('\n'),
    );
    const select = auditSelect('m', ['v'], ['host', 'site'])!;
    const values = { verified: 'false', verify_status: 'bad_signature', device: 'd', host: 'h' } as Record<string, string>;
    const row = ['2024-03-01T00:00:00.123456789Z', ...select.sources.map((c) => (c.kind === 'tag' ? (values[c.name] ?? null) : 1))];
    const rewrite = new RowWriter('m', select.sources, new Map([['v', new Set(['float'])]])).rewrite(row, row[0] as string, 'x');
    if ('problem' in rewrite) throw new Error(rewrite.problem);
    await influx.query(rewrite.deletion, 'exact');
    const [r] = await influx.query('SELECT "v"::field, "verify_status"::tag, "site"::tag, "device"::tag FROM "m"', 'exact');
    expect(r!.series![0]!.values.map(([, v, status, site, device]) => [v, status, site, device])).toEqual([
      [2, 'bad_signature', 'x', 'd'],
      [1, 'ok', null, 'd'],
      [4, 'bad_signature', null, 'e'],
      [3, 'bad_signature', null, 'd'],
    ]);
  });

  describe('with forged, demoted, replayed and tampered rows', () => {
    it('still alarms on the forged and the demoted row (exit 1); the replays are verified later but left', async () => {
      const res = await audit('attacked', '--json');
      expect(res.code).toBe(1);
      const report = json(res);
      expect(report.byKind).toEqual({ forged_verified: 1, rejected_but_valid: 1, message_mismatch: 0 });
      expect(report.examples.map((e) => `${e.kind}: ${e.detail}`)).toEqual([
        'rejected_but_valid: stored verify_status=bad_signature, but the signature verifies now',
        expect.stringMatching(/^forged_verified: verified=true, but the signature does not verify "2024-03-01T00:02:00,12\.500"/),
      ]);
      // The window less the tampered reading (4), and on plug-u 3, re-taggable; two replays, left.
      expect(report.verifiedLater).toMatchObject({ rows: 9, retaggable: 7 });
      const left = report.verifiedLater.list.filter((v) => !v.retag);
      expect(left).toEqual([
        // The window's duplicate: the processor would have called it a replay, had it known key B.
        expect.objectContaining({
          device: 'plug-r',
          signedMessage: attacked.replayed.message,
          left: `would have been a replay: the device's last ok reading stored before it is signed at ${attacked.replayed.message.slice(0, 19)}`,
        }),
        // The demoted copy: its verified=false stands whatever the key (the verified original stays).
        expect.objectContaining({
          device: 'plug-r',
          left: expect.stringMatching(/^would have been a replay: .* signed at 2024-03-01T00:02:30$/),
        }),
      ]);
      // The tampered reading verifies under no key: it agrees with its bad_signature and is not listed.
      expect(report.verifiedLater.list.map((v) => v.signedMessage)).not.toContain(attacked.tampered.message.replace(/,.*/, ',0.999'));
    });

    it('--retag rewrites only the readings that would have been ok; forged, demoted, replayed and tampered rows stay', async () => {
      const res = await audit('attacked', '--retag', '--yes');
      expect(res.code).toBe(1); // the disagreements remain
      expect(res.stdout).toContain('Re-tagged 7 rows in "mqtt_consumer"');
      const rows = await stored('attacked');
      const rejected = rows.filter((r) => r.verified === 'false').map((r) => [r.device, r.status, r.total]);
      expect(rejected).toEqual([
        ['plug-r', 'bad_signature', Number(attacked.replayed.totalText)], // the replay, left
        ['plug-r', 'bad_signature', 0.999], // the tampered reading
        ['plug-r', 'bad_signature', demotedTotal], // demoted in place
        ['plug-r', 'bad_signature', copiedTotal], // the demoted copy, left
      ]);
      const again = json(await audit('attacked', '--json'));
      expect(again).toMatchObject({ disagreements: 2, verifiedLater: { rows: 2, retaggable: 0 } });
      expect(again.byKind).toEqual({ forged_verified: 1, rejected_but_valid: 1, message_mismatch: 0 });
    });
  });

  describe('credentials', () => {
    let secured: InfluxServer;
    beforeAll(async () => {
      secured = await startInfluxDB({ auth: { username: 'admin', password: 'admin-pw' } });
      await secured.query('CREATE DATABASE "rotation"');
      await secured.write('rotation', clean.lines.join('\n'));
      await secured.query(`CREATE USER "reader" WITH PASSWORD 'reader-pw'`);
      await secured.query('GRANT READ ON "rotation" TO "reader"');
      await secured.query(`CREATE USER "writer" WITH PASSWORD 'writer-pw'`);
      await secured.query('GRANT ALL ON "rotation" TO "writer"');
    });
    afterAll(async () => secured?.stop());
    const run = (user: string, ...extra: string[]) =>
      runCli(['audit', '--url', secured.url, '--db', 'rotation', '--keys', clean.keysPath, '--retag', '--yes', ...extra], {
        env: { INFLUX_USERNAME: user, INFLUX_PASSWORD: `${user}-pw` },
      });

    it('a read-only user audits, but --retag stops before writing anything (exit 2)', async () => {
      const res = await run('reader', '--json');
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(
        /^meterproof audit: --retag: InfluxDB refused the credentials \(HTTP 403\): .*not authorized.* \(nothing was written\)\n$/,
      );
      expect(json(res).retagged).toMatchObject({ rows: 0, error: expect.stringMatching(/HTTP 403/) });
      const [r] = await secured.query('SELECT COUNT("Signature"::field) FROM "mqtt_consumer" WHERE "verified"::tag = \'true\'', 'rotation');
      expect(r!.series![0]!.values[0]![1]).toBe(clean.lines.filter((l) => l.includes('verified=true')).length);
    });

    it('a user with write access (not an admin) re-tags', async () => {
      const res = await run('writer');
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('Re-tagged 8 rows');
      expect((await run('writer', '--json')).stdout).toContain('"retaggable": 0');
    });
  });
});

/** The CLI on a pseudo-terminal, answering `answer` to its question. */
async function onTerminal(args: readonly string[], answer: string): Promise<CliResult> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, requireBuild('meterproof.js'), ...args].map(quote).join(' ');
  const proc = spawn('/usr/bin/script', ['-qfec', command, '/dev/null'], { stdio: 'pipe' });
  let seen = '';
  proc.stdout.on('data', (d: Buffer) => {
    seen += d.toString();
    if (seen.includes('[y/N] ')) {
      seen = '';
      proc.stdin.write(`${answer}\n`);
    }
  });
  return completion(proc);
}
