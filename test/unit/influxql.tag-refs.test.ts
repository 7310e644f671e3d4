/**
 * Every InfluxQL statement the project writes or ships names its tags as `"tag"::tag` (docs/grafana.md,
 * "Name tags as tags"): the data source's statements, the audit's, the provisioned dashboard and data
 * sources, and the queries shown in README.md and the docs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatRegexVariable } from '../../core/influxql';
import { auditSelect, fieldKeysStatement } from '../../audit/select';
import { toTable } from '../../audit/report';
import { AuditTally } from '../../audit/tally';
import {
  eventsStatement,
  signedTotalsStatement,
  tagValuesStatement,
  tagKeysStatement,
  trustStatements,
} from '../../grafana-plugin/datasource/statements';
import { influxqlInJson, influxqlInMarkdown, influxqlInYaml, unqualifiedTagRefs } from '../harness/influxql-tag-refs';

const ROOT = join(__dirname, '..', '..');

/** Shipped files allowed a bare tag reference, with how many (none). */
const OUTSIDE_THIS_CHANGE: Record<string, number> = {};

/** Shipped text files and the InfluxQL each shows. */
function shippedInfluxQL(): Map<string, string[]> {
  const files = [
    'README.md',
    'grafana-plugin/README.md',
    'grafana-plugin/datasource/plugin.json',
    'grafana-plugin/panel/plugin.json',
    'docker-compose.yml',
    'telegraf.conf',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
    ...readdirSync(join(ROOT, 'provisioning'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(ROOT.length + 1)),
  ];
  const found = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    found.set(
      f,
      f.endsWith('.md') ? influxqlInMarkdown(text) : f.endsWith('.json') ? influxqlInJson(JSON.parse(text)) : influxqlInYaml(text),
    );
  }
  return found;
}

describe('the tag-reference check itself', () => {
  it.each([
    `SELECT last("ENERGY_Total") FROM "m" WHERE "verified" = 'true'`,
    `SELECT count("Time") FROM "m" WHERE $timeFilter GROUP BY time(1m), "device" fill(0)`,
    `SELECT count("Time") FROM "m" GROUP BY device, verify_status`,
    `verified = 'false'`,
    `verified='false'`,
    `AND "verify_status" = 'bad_signature'`,
    `"topic"`,
    `SELECT "device"::tag, "topic" FROM "m"`,
    `SHOW TAG VALUES FROM "m" WITH KEY = "device" WHERE "device" =~ /^a$/`,
  ])('flags %s', (q) => {
    expect(unqualifiedTagRefs(q)).not.toEqual([]);
  });

  it.each([
    `SELECT last(/^ENERGY_Total(_[0-9]+)?$/) FROM "m" WHERE "verified"::tag = 'true' AND "device"::tag =~ /^\${device:regex}$/ AND $timeFilter GROUP BY time($__interval), "device"::tag fill(none)`,
    `SHOW TAG VALUES FROM "m" WITH KEY = "device" WHERE "device"::tag =~ /^(?:a)$/`,
    `SELECT "verified"::field FROM "m" WHERE "host" = 'device'`,
    `SELECT "ENERGY_Total" FROM "m" WHERE "x" =~ /device|verified/`,
    `-- a bare "verified" means a field\nSELECT 1 FROM "m"`,
    `SELECT count("device_count") FROM "m" WHERE $device`,
  ])('accepts %s', (q) => {
    expect(unqualifiedTagRefs(q)).toEqual([]);
  });

  it('finds InfluxQL in Markdown code blocks, shell lines and inline code, and not in prose or JSON examples', () => {
    const md = [
      'Filter on `verified = \'true\'` or group by `"device"`; the `device` tag, "verified" in prose.',
      '```sql',
      'SELECT 1 FROM "m" WHERE "verified" = \'true\'',
      '```',
      '```sh',
      'curl --data-urlencode \'q=SELECT 1 FROM "m" GROUP BY "topic"\'',
      '```',
      '```json',
      '{ "device": "plug-01", "verified": true }',
      '```',
    ].join('\n');
    expect(influxqlInMarkdown(md).flatMap(unqualifiedTagRefs)).toHaveLength(4);
  });
});

describe('shipped InfluxQL', () => {
  const found = shippedInfluxQL();

  it('reads the dashboard, the data source provisioning, README.md and every doc', () => {
    expect([...found.keys()]).toEqual(
      expect.arrayContaining(['README.md', 'docs/grafana.md', 'docs/audit.md', 'provisioning/dashboards/meterproof/meter-trust.json']),
    );
    expect(found.get('provisioning/dashboards/meterproof/meter-trust.json')!.join('\n')).toContain('GROUP BY');
    expect(found.get('docs/grafana.md')!.filter((q) => /^\s*SELECT\b[^]*\bFROM\b/.test(q))).toHaveLength(2);
  });

  it.each([...shippedInfluxQL().keys()])('%s names every tag with ::tag (known exceptions aside)', (file) => {
    const refs = found.get(file)!.flatMap(unqualifiedTagRefs);
    expect(refs.length, refs.join('\n')).toBe(OUTSIDE_THIS_CHANGE[file] ?? 0);
  });
});

describe('InfluxQL the code writes', () => {
  const scope = {
    measurement: 'mqtt_consumer',
    totalField: 'ENERGY_Total',
    fromMs: 0,
    toMs: 1,
    device: formatRegexVariable(['a', 'b']),
    filters: [{ key: 'device', operator: '=', value: 'a' }],
  };

  it("the data source's statements", () => {
    const statements = [
      ...trustStatements(scope),
      signedTotalsStatement(scope, 1000),
      eventsStatement(scope, 5),
      tagValuesStatement('mqtt_consumer', 'device', formatRegexVariable('a')),
      tagKeysStatement('mqtt_consumer'),
    ];
    for (const q of statements) expect(unqualifiedTagRefs(q), q).toEqual([]);
  });

  it("the audit's statements and the query its report suggests", () => {
    const select = auditSelect('mqtt_consumer', ['Signature', 'verified', 'device', 'topic', 'verify_status', 'ENERGY_Total'])!;
    const report = toTable(
      { url: 'http://h', db: 'd', measurement: 'mqtt_consumer' },
      {
        tally: new AuditTally(),
        shadowed: ['verified', 'device'],
        stats: { seconds: 0, rowsPerSecond: 0, peakRssBytes: 0, pageSize: 1, verifier: 'x' },
      },
    );
    const suggested = report.split('\n').find((l) => l.trim().startsWith('SELECT'))!;
    for (const q of [select.statement, fieldKeysStatement('mqtt_consumer'), suggested]) expect(unqualifiedTagRefs(q), q).toEqual([]);
  });
});
