/**
 * The InfluxQL the project writes or ships, on a real InfluxDB 1.6 whose measurement has fields named
 * `verified`, `device` and `topic` (test/harness/shadowing-rows.ts): the data source's statements (built by
 * statements.ts), the provisioned dashboard's query, and the README's and docs/grafana.md's queries read
 * the tags, so they answer as they do on the same rows without the shadowing fields.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatRegexVariable } from '../../core/influxql';
import { VERIFY_STATUSES } from '../../core/status';
import {
  eventsStatement,
  signedTotalsStatement,
  tagValuesStatement,
  TRUST_COUNT_STATEMENTS,
  trustStatements,
  type Scope,
} from '../../grafana-plugin/datasource/statements';
import { startInfluxDB, type InfluxResult, type InfluxServer } from '../harness/influxdb';
import { influxqlInMarkdown } from '../harness/influxql-tag-refs';
import { shadowingRows, type ShadowingRows } from '../harness/shadowing-rows';

const M = '"mqtt_consumer"';

let influx: InfluxServer;
let dir: string;
let store: ShadowingRows;
let devices: string[];

/** Rows of every series, keyed by the series' tags: what a query answered, independent of series order. */
const answer = async (q: string, db: string) => {
  const [r] = await influx.query(q, db);
  return (r as InfluxResult).series?.map((s) => ({ tags: s.tags ?? {}, columns: s.columns, values: s.values })) ?? [];
};
const both = (q: string) => Promise.all([answer(q, 'shadowed'), answer(q, 'genuine')]);
const column = (s: { columns: string[]; values: unknown[][] }, name: string) => s.values.map((v) => v[s.columns.indexOf(name)]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meterproof-shadowed-tags-'));
  [influx, store] = await Promise.all([startInfluxDB(), shadowingRows(dir, 'grafana-shadowed')]);
  devices = [...new Set(store.fleet.messages.map((m) => m.device))].sort();
  await influx.query('CREATE DATABASE "genuine"');
  await influx.query('CREATE DATABASE "shadowed"');
  await influx.write('genuine', store.fleet.lines.join('\n'));
  await influx.write('shadowed', store.lines.join('\n'));
  const [fields] = await answer(`SHOW FIELD KEYS FROM ${M}`, 'shadowed');
  expect(column(fields!, 'fieldKey')).toEqual(expect.arrayContaining(['verified', 'device', 'topic']));
});

afterAll(async () => {
  await influx?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('InfluxDB 1.6 beside a field of the same name', () => {
  it('reads a bare name as the field, and "name"::tag as the tag, in WHERE, GROUP BY and SELECT', async () => {
    const ok = store.fleet.messages.filter((m) => m.expected === 'ok').length;
    const count = async (where: string) =>
      column((await answer(`SELECT count("ENERGY_Total") FROM ${M} WHERE ${where}`, 'shadowed'))[0]!, 'count');
    expect(await count(`"verified" = 'true'`)).toEqual([1]); // the one unsigned row with the field
    expect(await count(`"verified"::tag = 'true'`)).toEqual([ok]);

    const grouped = await answer(`SELECT count("ENERGY_Total") FROM ${M} GROUP BY "device"::tag`, 'shadowed');
    expect(grouped.map((s) => s.tags.device)).toEqual(devices);

    const [bare] = await answer(`SELECT "device", "topic", "ENERGY_Total" FROM ${M}`, 'shadowed');
    expect(new Set(column(bare!, 'device'))).toEqual(new Set([null, 7]));
    const [tagged] = await answer(`SELECT "device"::tag, "topic"::tag, "ENERGY_Total" FROM ${M}`, 'shadowed');
    expect([...new Set(column(tagged!, 'device'))].sort()).toEqual(devices);
    expect(column(tagged!, 'topic').every((t) => typeof t === 'string' && t.startsWith('tele/'))).toBe(true);

    // SHOW TAG VALUES drops a WHERE on a name that is also a field: every device comes back.
    const one = `/^${store.shadowDevices[0]}$/`;
    const shown = async (where: string) =>
      column((await answer(`SHOW TAG VALUES FROM ${M} WITH KEY = "device" WHERE ${where}`, 'shadowed'))[0]!, 'value');
    expect(await shown(`"device" =~ ${one}`)).toEqual(devices);
    expect(await shown(`"device"::tag =~ ${one}`)).toEqual([store.shadowDevices[0]]);
  });
});

describe("the data source's statements (statements.ts)", () => {
  const scope = (over: Partial<Scope> = {}): Scope => ({
    measurement: 'mqtt_consumer',
    totalField: 'ENERGY_Total',
    fromMs: store.fromMs,
    toMs: Date.now() + 60_000,
    filters: [],
    ...over,
  });
  const scopes = () => [
    scope(),
    scope({ device: formatRegexVariable([...store.shadowDevices]) }),
    scope({ device: formatRegexVariable(devices), filters: [{ key: 'host', operator: '=', value: 'telegraf-host' }] }),
  ];

  it('return the same verified rows, last readings and totals as without the shadowing rows', async () => {
    for (const s of scopes()) {
      // Last rows per verdict with their Totals and proof, and failing rows by their Total.
      const [last, failing] = trustStatements(s);
      for (const q of [last!, failing!, signedTotalsStatement(s, 60_000)]) {
        const [shadowed, genuine] = await both(q);
        expect(genuine.length).toBeGreaterThan(0);
        expect(shadowed, q).toEqual(genuine);
      }
    }
  });

  it('count every reading under its device and verify_status tags', async () => {
    // Verified rows counted by their Total, the others by Time and each Total (the largest count of a series).
    const statements = trustStatements(scope());
    const series = (await Promise.all(TRUST_COUNT_STATEMENTS.map((i) => answer(statements[i]!, 'shadowed')))).flat();
    const largest = (s: (typeof series)[number]) =>
      Math.max(...s.columns.filter((c) => c.startsWith('count_')).map((c) => Number(column(s, c)[0] ?? 0)));
    const got = series.map((s) => `${s.tags.device} ${s.tags.verify_status} ${largest(s)}`).sort();
    const want = devices.flatMap((d) =>
      VERIFY_STATUSES.map((st) => {
        const n =
          store.fleet.messages.filter((m) => m.device === d && m.expected === st).length +
          (st === 'unsigned' ? store.shadowDevices.filter((x) => x === d).length : 0);
        return n ? `${d} ${st} ${n}` : '';
      }).filter(Boolean),
    );
    expect(got).toEqual(want.sort());
  });

  it('list failed readings with the device and topic tags, the shadowing rows among them', async () => {
    for (const s of scopes()) {
      const q = eventsStatement(s, 500);
      const [[shadowed], [genuine]] = await both(q);
      expect(shadowed!.columns.slice(0, 4)).toEqual(['time', 'device', 'verify_status', 'topic']);
      // Newest first, so the two older shadowing rows come last.
      expect(shadowed!.values.slice(0, -2)).toEqual(genuine!.values);
      expect(shadowed!.values.slice(-2).map((v) => [v[1], v[2], v[3]])).toEqual(
        [...store.shadowDevices].reverse().map((d) => [d, 'unsigned', `tele/${d}/SENSOR`]),
      );
    }
  });

  it('offer exactly the devices a device filter matches', async () => {
    const q = tagValuesStatement('mqtt_consumer', 'device', formatRegexVariable([store.shadowDevices[1]]));
    const [[shadowed]] = await both(q);
    expect(column(shadowed!, 'value')).toEqual([store.shadowDevices[1]]);
  });
});

describe('the InfluxQL shipped in the dashboard and the docs', () => {
  /** Grafana's macros, as its InfluxDB data source would fill them in for the last two hours and every device. */
  const fill = (q: string) =>
    q
      .replace(/\$timeFilter/g, `time >= ${store.fromMs}ms`)
      .replace(/\$\{(?:device|status):regex\}/g, '.*')
      .replace(/\$__interval/g, '1m');

  async function shipped(): Promise<string[]> {
    const dashboard = JSON.parse(await readFile('provisioning/dashboards/meterproof/meter-trust.json', 'utf8')) as {
      panels: { targets: { query?: string }[] }[];
    };
    const fromDashboard = dashboard.panels.flatMap((p) => p.targets.map((t) => t.query ?? '')).filter(Boolean);
    const fromDocs = await Promise.all(['README.md', 'docs/grafana.md'].map(async (f) => influxqlInMarkdown(await readFile(f, 'utf8'))));
    const statements = fromDocs
      .flat()
      .flatMap((block) => block.split(/\n(?=\s*SELECT\b)/))
      .map((q) => q.replace(/^\s*--.*$/gm, '').trim())
      .filter((q) => /^SELECT\b[^]*\bFROM\b/.test(q));
    return [...fromDashboard, ...statements].map(fill);
  }

  it('group the same devices and statuses, and see the same verified rows, as without the shadowing rows', async () => {
    const queries = await shipped();
    expect(queries.length).toBeGreaterThanOrEqual(5);
    for (const q of queries) {
      const [shadowed, genuine] = await both(q);
      expect(genuine.length, q).toBeGreaterThan(0);
      expect(
        shadowed.map((s) => s.tags),
        q,
      ).toEqual(genuine.map((s) => s.tags));
      if (q.includes(`"verified"::tag = 'true'`)) expect(shadowed, q).toEqual(genuine);
    }
  });
});
