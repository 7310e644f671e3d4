/**
 * A statement over many stored readings holds one page at a time: the built CLI runs with V8's old
 * generation capped far below what the readings would take, and still checks every one of them. The
 * rows are the benchmark's (bench/statement.ts): one plug, a genuinely signed reading every 10 s.
 *
 * Size: METERPROOF_STATEMENT_TEST_ROWS (default below, sized for the 2-core CI); `npm run bench`
 * measures 1,000,000 and more.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceLines, load, signer, STEP_MS, T0 } from '../../bench/statement';
import type { Statement } from '../../core/statement/format';
import { runCli } from '../harness/cli';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';

const ROWS = Number(process.env.METERPROOF_STATEMENT_TEST_ROWS ?? 150_000);
const HEAP_CAP_MIB = 32;
const PAGE = 2_000;

describe(`a statement over ${ROWS.toLocaleString('en-US')} stored readings`, () => {
  let influx: InfluxServer;
  let dir: string;
  let keysPath: string;
  const totals: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meterproof-statement-scale-'));
    influx = await startInfluxDB();
    await influx.query('CREATE DATABASE "one"');
    const plug = signer('scale-plug');
    keysPath = join(dir, 'keys.json');
    await writeFile(keysPath, JSON.stringify({ 'scale-plug': plug.publicKeyHex }));
    expect(await load(influx, 'one', deviceLines('scale-plug', plug, ROWS, totals))).toBe(ROWS);
  }, 600_000);

  afterAll(async () => {
    await influx?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('checks every reading in bounded memory', async () => {
    const res = await runCli(
      [
        ...['statement', 'create', '--url', influx.url, '--db', 'one', '--keys', keysPath, '--device', 'scale-plug'],
        ...['--from', new Date(T0 + 1000).toISOString(), '--to', new Date(T0 + ROWS * STEP_MS).toISOString(), '--page-size', String(PAGE)],
      ],
      { env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MIB}` }, timeoutMs: 600_000 },
    );
    expect(res.code, res.stderr).toBe(0);
    const s = JSON.parse(res.stdout) as Statement;
    expect(s.readings_checked).toBe(ROWS);
    expect(s.segments).toHaveLength(1);
    expect([s.segments[0]!.start.signed_total, s.segments[0]!.end.signed_total]).toEqual(totals);
    const units = (t: string) => BigInt(t.replace('.', ''));
    expect(units(s.consumption_kwh_text)).toBe(units(totals[1]!) - units(totals[0]!));
  }, 600_000);
});
