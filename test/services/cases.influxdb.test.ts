/**
 * Every data-driven case's expected output (test/cases) is what InfluxDB then holds: each line is
 * accepted by a real InfluxDB 1.6, and no field ever takes a verdict tag's name, which InfluxQL would
 * read instead of the tag (`"verified"` resolves to a field when one exists).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';

const CASES = join(__dirname, '..', 'cases');
const names = readdirSync(CASES, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
// InfluxDB 1.6 predates unsigned integers and refuses a `u` field; Telegraf sends them as `i` to it.
const HAS_UINT = /=\d+u[ ,]/;

let influx: InfluxServer;
beforeAll(async () => {
  influx = await startInfluxDB();
});
afterAll(async () => {
  await influx?.stop();
});

describe('test/cases outputs in a real InfluxDB', () => {
  it.each(names.filter((n) => !HAS_UINT.test(readFileSync(join(CASES, n, 'expected.lp'), 'latin1'))))('case %s', async (name) => {
    const db = `case_${name.replace(/\W/g, '_')}`;
    await influx.query(`CREATE DATABASE "${db}"`);
    const lines = readFileSync(join(CASES, name, 'expected.lp'), 'utf8');
    await influx.write(db, lines);
    const fields = (await influx.query('SHOW FIELD KEYS', db))
      .flatMap((r) => r.series ?? [])
      .flatMap((s) => s.values.map((v) => String(v[0])));
    const tags = (await influx.query('SHOW TAG KEYS', db)).flatMap((r) => r.series ?? []).flatMap((s) => s.values.map((v) => String(v[0])));
    expect(fields.filter((f) => f === 'verified' || f === 'verify_status')).toEqual([]);
    expect(tags).toContain('verified');
    const stored = (await influx.query(`SELECT * FROM /.*/`, db)).flatMap((r) => r.series ?? []).reduce((n, s) => n + s.values.length, 0);
    expect(stored).toBe(lines.split('\n').filter((l) => l !== '').length);
  });
});
