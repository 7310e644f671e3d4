/**
 * `meterproof audit` (the built CLI) on a real InfluxDB: it passes the processor's genuine output,
 * and flags rows someone with write access forged straight into the database.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';
import { freePort } from '../harness/ports';
import { runCli, runCliOnTerminal } from '../harness/cli';
import { processedFleet, type ProcessedFleet } from '../harness/processed-fleet';

interface Report {
  rows: number;
  reverified: number;
  disagreements: number;
  byKind: Record<string, number>;
  devices: {
    device: string;
    rows: number;
    signed: number;
    reverified: number;
    storedVerified: number;
    disagreements: number;
    byKind: Record<string, number>;
  }[];
  examples: { time: string; device: string; kind: string; detail: string }[];
  stats: { rowsPerSecond: number; peakRssBytes: number };
}

// Line-protocol edits an attacker with write access would make to a genuine row.
const retime = (line: string, ns: bigint) => line.replace(/ \d+$/, ` ${ns}`);
const setTags = (line: string, verified: boolean, status: string) =>
  line.replace(/,verified=\w+,verify_status=\w+ /, `,verified=${verified},verify_status=${status} `);
const setTotal = (line: string, total: string) => line.replace(/([ ,])ENERGY_Total=[^, ]+/, `$1ENERGY_Total=${total}`);
const dropSignedMessage = (line: string) => line.replace(/,signed_message="[^"]*"/, '');
const signedMessageOf = (line: string) => /signed_message="([^"]*)"/.exec(line)![1]!;

describe('meterproof audit', () => {
  let influx: InfluxServer;
  let dir: string;
  let fleet: ProcessedFleet;
  const audit = (...extra: string[]) => runCli(['audit', '--url', influx.url, '--db', 'stored', '--keys', fleet.keysPath, ...extra]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meterproof-audit-'));
    [influx, fleet] = await Promise.all([
      startInfluxDB(),
      processedFleet(
        dir,
        { devices: '5', unknown: '0.2', 'energy-res': '3,2,0', unsigned: '0.1', tampered: '0.1', replayed: '0.1', seed: 'audit-detect' },
        20,
      ),
    ]);
    await influx.query('CREATE DATABASE "stored"');
    await influx.write('stored', fleet.lines.join('\n'));
  });

  afterAll(async () => {
    await influx?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes the database the processor wrote: exit 0, a table per device', async () => {
    const res = await audit();
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe(''); // no progress bar when piped
    for (const d of new Set(fleet.messages.map((m) => m.device))) expect(res.stdout).toMatch(new RegExp(`^${d} `, 'm'));
    expect(res.stdout).toContain('Every row agrees with its stored verified tag.');
    expect(res.stdout).toMatch(/replay or rollback carry valid signatures by design/);
  });

  it('shows a progress bar on a terminal', async () => {
    const res = await runCliOnTerminal(['audit', '--url', influx.url, '--db', 'stored', '--keys', fleet.keysPath]);
    expect(res.code, res.stdout).toBe(0);
    const rows = fleet.messages.length;
    expect(res.stdout).toContain(`\r\x1b[2K[${'#'.repeat(30)}] 100% ${rows}/${rows} rows`);
  });

  it('--json: every row counted, genuine signatures re-verified, no disagreement', async () => {
    const res = await audit('--json');
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as Report;
    expect(report.rows).toBe(fleet.messages.length);
    expect(report.disagreements).toBe(0);
    expect(report.reverified).toBe(fleet.messages.filter((m) => m.expected === 'ok' || m.expected === 'replay').length);
    const trusted = fleet.messages.filter((m) => m.expected === 'ok').length;
    expect(report.devices.reduce((n, d) => n + d.storedVerified, 0)).toBe(trusted);
  });

  it('flags rows forged into InfluxDB, says why, and exits 1', async () => {
    const ok = fleet.lines.filter((l) => l.includes('verify_status=ok ') && /[ ,]ENERGY_Total=/.test(l));
    const unsigned = fleet.lines.find((l) => l.includes('verify_status=unsigned '))!;
    const unknown = fleet.lines.find((l) => l.includes('verify_status=unknown_device '))!;
    expect([ok.length > 4, unsigned, unknown].every(Boolean)).toBe(true);
    let t = BigInt(Date.now()) * 1_000_000n;
    const at = (line: string) => retime(line, (t += 1000n));
    const bumped = (line: string) => setTotal(line, '99999.5');
    const forged = [
      // A made-up reading with a made-up signed_message to match: the signature cannot vouch for it.
      at(bumped(ok[0]!).replace(signedMessageOf(ok[0]!), `${signedMessageOf(ok[0]!).slice(0, 19)},99999.500`)),
      // A genuine signed_message and signature beside a changed Total.
      at(bumped(ok[1]!)),
      // An unsigned reading promoted to verified.
      at(setTags(unsigned, true, 'ok')),
      // A reading from a plug nobody registered, promoted to verified.
      at(setTags(unknown, true, 'ok')),
      // A genuine reading demoted: the processor never said bad_signature about it.
      at(dropSignedMessage(setTags(ok[2]!, false, 'bad_signature'))),
      // Marked as a replay: its signature is valid by design, so this agrees.
      at(dropSignedMessage(setTags(ok[3]!, false, 'replay'))),
    ];
    await influx.write('stored', forged.join('\n'));

    const table = await audit();
    expect(table.code).toBe(1);
    expect(table.stdout).toContain(
      'Disagreements with the stored verified tag: 3 verified=true but not proven, 1 rejected but verifies now, 1 signed_message differs from the fields',
    );

    const res = await audit('--json');
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as Report;
    expect(report.rows).toBe(fleet.messages.length + forged.length);
    expect(report.disagreements).toBe(5);
    expect(report.byKind).toEqual({ forged_verified: 3, rejected_but_valid: 1, message_mismatch: 1 });
    expect(report.devices.reduce((n, d) => n + d.disagreements, 0)).toBe(5);
    const kinds = report.examples.map((e) => `${e.kind}: ${e.detail}`);
    expect(kinds).toEqual([
      expect.stringMatching(/^forged_verified: verified=true, but the signature does not verify ".{19},99999\.500/),
      expect.stringMatching(
        /^message_mismatch: signed_message ".{19},[\d.]+" does not match the row: the row's Time and Total give ".{19},99999\.5/,
      ),
      'forged_verified: verified=true on a row without a Signature',
      expect.stringMatching(/^forged_verified: verified=true, but device "plug-05" has no key in the registry/),
      'rejected_but_valid: stored verify_status=bad_signature, but the signature verifies now',
    ]);
    expect(report.stats.rowsPerSecond).toBeGreaterThan(0);
    expect(report.stats.peakRssBytes).toBeGreaterThan(0);
  });

  it('exits 2 when it cannot run', async () => {
    const closed = await runCli(['audit', '--url', `http://127.0.0.1:${await freePort()}`, '--db', 'stored', '--keys', fleet.keysPath]);
    expect(closed.code).toBe(2);
    expect(closed.stderr).toMatch(/cannot reach InfluxDB.*ECONNREFUSED/);

    const noDb = await runCli(['audit', '--url', influx.url, '--db', 'missing', '--keys', fleet.keysPath]);
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(/database not found/);

    const empty = await audit('--measurement', 'nothing_here');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no rows in measurement "nothing_here"/);

    const badKeys = join(dir, 'bad.json');
    await writeFile(badKeys, '{"plug-01": ');
    const keys = await runCli(['audit', '--url', influx.url, '--db', 'stored', '--keys', badKeys]);
    expect(keys.code).toBe(2);
    expect(keys.stderr).toMatch(/--keys .*not valid JSON/);

    const missing = await runCli(['audit', '--url', influx.url, '--keys', fleet.keysPath]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--db is required/);
  });

  it('exits 2 when InfluxDB refuses the credentials, and audits with the right ones', async () => {
    const secured = await startInfluxDB({ auth: { username: 'auditor', password: 's3cret' } });
    try {
      await secured.query('CREATE DATABASE "stored"');
      await secured.write('stored', fleet.lines.join('\n'));
      const args = ['audit', '--url', secured.url, '--db', 'stored', '--keys', fleet.keysPath];
      const refused = await runCli(args, { env: { INFLUX_USERNAME: 'auditor', INFLUX_PASSWORD: 'wrong' } });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/auth|credential|401/i);
      const none = await runCli(args);
      expect(none.code).toBe(2);
      const ok = await runCli(args, { env: { INFLUX_USERNAME: 'auditor', INFLUX_PASSWORD: 's3cret' } });
      expect(ok.code).toBe(0);
    } finally {
      await secured.stop();
    }
  });

  it('--help documents the exit codes and what the audit cannot see', async () => {
    const res = await runCli(['audit', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Exit status: 0 .* 1 .*\n2 cannot run/);
    expect(res.stdout).toMatch(/not ordering/);
  });
});
