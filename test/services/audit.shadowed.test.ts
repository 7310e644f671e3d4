/**
 * `meterproof audit` (the built CLI) on a real InfluxDB whose measurement has fields named like the tags
 * it judges by: it still judges every row by its tags, reports the fields as `shadowed` (exit 1, not a
 * disagreement), and never prints the credentials of `--url http://user:pass@host`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../harness/cli';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';
import { freePort } from '../harness/ports';
import { shadowingRows, type ShadowingRows } from '../harness/shadowing-rows';

interface Report {
  url: string;
  rows: number;
  reverified: number;
  disagreements: number;
  shadowed: string[];
  devices: { device: string; rows: number; storedVerified: number; untagged: number; disagreements: number }[];
  examples: { kind: string; detail: string }[];
}

const PASSWORD = 'pa55-w0rd_that-must-not-show';
const USER = 'auditor';

describe('meterproof audit with fields that shadow its tags', () => {
  let influx: InfluxServer;
  let secured: InfluxServer;
  let dir: string;
  let store: ShadowingRows;
  const audit = (db: string, ...extra: string[]) =>
    runCli(['audit', '--url', influx.url, '--db', db, '--keys', store.fleet.keysPath, ...extra]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meterproof-audit-shadowed-'));
    [influx, secured, store] = await Promise.all([
      startInfluxDB(),
      startInfluxDB({ auth: { username: USER, password: PASSWORD } }),
      shadowingRows(dir, 'audit-shadowed'),
    ]);
    for (const db of ['genuine', 'shadowed', 'forged']) await influx.query(`CREATE DATABASE "${db}"`);
    await influx.write('genuine', store.fleet.lines.join('\n'));
    await influx.write('shadowed', store.lines.join('\n'));
    // A forged verified row whose only field shadows a tag: the audit must still read and judge it.
    const forged = `mqtt_consumer,device=${store.shadowDevices[0]},topic=tele/${store.shadowDevices[0]}/SENSOR,verified=true,verify_status=ok verified="true" ${BigInt(store.fromMs) * 1_000_000n}`;
    await influx.write('forged', [forged, ...store.fleet.lines].join('\n'));
    await secured.query('CREATE DATABASE "shadowed"');
    await secured.write('shadowed', store.lines.join('\n'));
  });

  afterAll(async () => {
    await Promise.all([influx?.stop(), secured?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const json = (res: CliResult): Report => JSON.parse(res.stdout) as Report;

  it('agrees with the genuine rows alone: exit 0, nothing shadowed', async () => {
    const res = await audit('genuine', '--json');
    expect(res.code, res.stderr).toBe(0);
    expect(json(res)).toMatchObject({ disagreements: 0, shadowed: [] });
  });

  it('lists the shadowing fields, exits 1, and judges every row by its tags: 0 disagreements', async () => {
    const res = await audit('shadowed', '--json');
    expect(res.code, res.stderr).toBe(1);
    const report = json(res);
    expect(report.shadowed).toEqual(['verified', 'device', 'topic']);
    expect(report.disagreements).toBe(0);
    expect(report.examples).toEqual([]);
    const { messages } = store.fleet;
    expect(report.rows).toBe(messages.length + 2);
    expect(report.reverified).toBe(messages.filter((m) => m.expected === 'ok' || m.expected === 'replay').length);
    // Attributed by the device tag, never the field (7) or a topic field (1).
    expect(report.devices.map((d) => d.device)).toEqual([...new Set(messages.map((m) => m.device))].sort());
    for (const d of report.devices) {
      const mine = messages.filter((m) => m.device === d.device);
      const extra = store.shadowDevices.filter((s) => s === d.device).length;
      expect(d).toMatchObject({ rows: mine.length + extra, storedVerified: mine.filter((m) => m.expected === 'ok').length, untagged: 0 });
    }

    const table = await audit('shadowed');
    expect(table.code).toBe(1);
    expect(table.stdout).toContain('Every row agrees with its stored verified tag.');
    expect(table.stdout).toContain('Shadowed tags: fields named "verified", "device", "topic" exist');
    expect(table.stdout).toContain('  SELECT "verified"::field, "device"::field, "topic"::field FROM "mqtt_consumer"');
  });

  it('still reads a row whose only field shadows a tag, and flags it when it claims verified=true', async () => {
    const res = await audit('forged', '--json');
    expect(res.code).toBe(1);
    const report = json(res);
    expect(report.shadowed).toEqual(['verified']);
    expect(report.rows).toBe(store.fleet.messages.length + 1);
    expect(report.disagreements).toBe(1);
    expect(report.examples.map((e) => `${e.kind}: ${e.detail}`)).toEqual(['forged_verified: verified=true on a row without a Signature']);
  });

  describe('never prints the credentials of --url', () => {
    const withUser = (url: string, password = PASSWORD) => url.replace('http://', `http://${USER}:${encodeURIComponent(password)}@`);
    const run = (url: string, ...extra: string[]) =>
      runCli(['audit', '--url', url, '--db', 'shadowed', '--keys', store.fleet.keysPath, ...extra]);
    const expectClean = (res: CliResult) => {
      for (const out of [res.stdout, res.stderr]) {
        expect(out).not.toContain(PASSWORD);
        expect(out).not.toContain(encodeURIComponent(PASSWORD));
      }
    };

    it('in the table and JSON reports, and authenticates with them', async () => {
      const table = await run(withUser(secured.url));
      expect(table.code, table.stderr).toBe(1); // shadowed: the credentials worked
      expect(table.stdout).toContain(`at ${secured.url.replace('http://', `http://${USER}:***@`)}/`);
      expectClean(table);

      const report = await run(withUser(secured.url), '--json');
      expect(report.code).toBe(1);
      expect(json(report).url).toBe(`${secured.url.replace('http://', `http://${USER}:***@`)}/`);
      expectClean(report);
    });

    it('in error lines', async () => {
      const runs = await Promise.all([
        run(withUser(`http://127.0.0.1:${await freePort()}`)), // unreachable
        run(withUser(secured.url, 'wrong-but-secret-too')), // refused
        runCli(['audit', '--url', withUser(influx.url), '--db', 'missing', '--keys', store.fleet.keysPath]), // unknown database
        run(`http://${USER}:${PASSWORD}/x@127.0.0.1:8086`), // not a URL: a raw slash in the password
        run(withUser('ftp://127.0.0.1:8086')), // not http(s)
        runCli(['audit', withUser(influx.url), '--db', 'shadowed', '--keys', store.fleet.keysPath]), // --url forgotten
      ]);
      for (const res of runs) {
        expect(res.code, res.stderr).toBe(2);
        expect(res.stderr).toMatch(/^meterproof audit: .+\n$/);
        expectClean(res);
        expect(res.stderr).not.toContain('wrong-but-secret-too');
      }
    });
  });
});
