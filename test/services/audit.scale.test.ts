/**
 * The audit pages through a large measurement in bounded memory. Rows are the real processor's
 * output for a simulated fleet, stored again and again under new timestamps (signing a million
 * readings would take longer than the audit), with a few forged rows hidden among them. The audit
 * keeps no cache, so every row costs a full signature check all the same.
 *
 * Size: METERPROOF_AUDIT_ROWS (default below, sized for the 2-core CI); `node bench/audit.mjs` runs
 * the full 1,000,000 rows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';
import { runCli } from '../harness/cli';
import { processedFleet, type ProcessedFleet } from '../harness/processed-fleet';

const ROWS = Number(process.env.METERPROOF_AUDIT_ROWS ?? 200_000);
/**
 * The audit runs with V8's old generation capped far below the data's size: were it to keep rows, it
 * would run out of memory. (Comparing peak RSS between runs measures V8's lazy collection instead.)
 */
const HEAP_CAP_MIB = 32;
const FORGED = 7;
const BATCH = 10_000;
const MiB = 2 ** 20;
/** Generous: CI shares two cores between test files; a loaded machine verifies a few thousand rows/s. */
const TIMEOUT_MS = Math.max(300_000, ROWS * 2);

interface Report {
  rows: number;
  reverified: number;
  disagreements: number;
  byKind: Record<string, number>;
  stats: { seconds: number; rowsPerSecond: number; peakRssBytes: number; verifier: string };
}

describe(`audit of ${ROWS.toLocaleString('en-US')} stored rows`, () => {
  let influx: InfluxServer;
  let dir: string;
  let fleet: ProcessedFleet;
  /** Genuine rows stored whose signature verifies (ok and replay), and the line protocol's size. */
  let provable = 0;
  let storedBytes = 0;

  /** `count` rows of the fleet's output, `forged` of them spread evenly and forged. */
  async function store(count: number, forged: number): Promise<void> {
    const verifies = fleet.messages.map((m) => m.expected === 'ok' || m.expected === 'replay');
    let genuine = 0;
    const heads = fleet.lines.map((l) => l.replace(/ \d+$/, ' '));
    // A verified single-phase row with its Total changed and no signed_message left to contradict it.
    const forgedHeads = heads
      .filter((h) => h.includes('verify_status=ok ') && /[ ,]ENERGY_Total=/.test(h))
      .map((h) => h.replace(/([ ,])ENERGY_Total=[^, ]+/, '$1ENERGY_Total=77777.5').replace(/,signed_message="[^"]*"/, ''));
    const forgedAt = new Set(Array.from({ length: forged }, (_, k) => Math.floor(((k + 0.5) * count) / forged)));
    const t0 = BigInt(Date.now() - 86_400_000) * 1_000_000n;
    const pending: Promise<void>[] = [];
    for (let start = 0; start < count; start += BATCH) {
      let body = '';
      for (let i = start; i < Math.min(count, start + BATCH); i++) {
        const forge = forgedAt.has(i);
        if (!forge && verifies[i % heads.length]) genuine++;
        body += `${forge ? forgedHeads[i % forgedHeads.length] : heads[i % heads.length]}${t0 + BigInt(i) * 1000n}\n`;
      }
      storedBytes += body.length;
      pending.push(influx.write('scale', body));
      if (pending.length >= 2) await pending.shift(); // two writes in flight keep influxd busy without queueing
    }
    await Promise.all(pending);
    provable = genuine;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meterproof-scale-'));
    [influx, fleet] = await Promise.all([
      startInfluxDB(),
      processedFleet(
        dir,
        {
          devices: '20',
          unknown: '0.1',
          'energy-res': '3,2,0,5,1',
          phases: '0.2',
          unsigned: '0.05',
          replayed: '0.05',
          seed: 'audit-scale',
        },
        50,
      ),
    ]);
    await influx.query('CREATE DATABASE "scale"');
    const started = Date.now();
    await store(ROWS, FORGED);
    console.log(
      `stored ${ROWS.toLocaleString('en-US')} rows (${(storedBytes / MiB).toFixed(0)} MiB of line protocol) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, TIMEOUT_MS);

  afterAll(async () => {
    await influx?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    're-checks every row in bounded memory and finds exactly the forged ones',
    async () => {
      const res = await runCli(['audit', '--url', influx.url, '--db', 'scale', '--keys', fleet.keysPath, '--json'], {
        env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MIB}` },
        timeoutMs: TIMEOUT_MS,
      });
      expect(res.code, res.stderr).toBe(1);
      const report = JSON.parse(res.stdout) as Report;
      expect(report.rows).toBe(ROWS);
      expect(report.disagreements).toBe(FORGED);
      expect(report.byKind).toEqual({ forged_verified: FORGED, rejected_but_valid: 0, message_mismatch: 0 });
      expect(report.reverified).toBe(provable);

      const s = report.stats;
      console.log(
        `audit: ${ROWS.toLocaleString('en-US')} rows in ${s.seconds} s = ${s.rowsPerSecond.toLocaleString('en-US')} rows/s (${s.verifier}), ` +
          `peak RSS ${(s.peakRssBytes / MiB).toFixed(0)} MiB with V8's old generation capped at ${HEAP_CAP_MIB} MiB`,
      );
      expect(s.peakRssBytes).toBeLessThan(192 * MiB);
    },
    TIMEOUT_MS,
  );
});
