/**
 * The statement command's parts that need no database: its InfluxQL (every tag as `::tag`, names
 * quoted), its options, file names for any device name, bounded concurrency, and the HTML page
 * (escaped, self-contained, every figure bound to the embedded statement).
 */
import { describe, expect, it } from 'vitest';
import { eachWithConcurrency, fileName, parseTimeOption, splitUserInfo } from '../../cli/statement/create-command';
import { statementHtml } from '../../cli/statement/html';
import { countStatement, deviceCondition, messageSelect, rowFields, rowSelect } from '../../cli/statement/queries';
import { derivedFields, segmentFigures, signedReading } from '../../core/statement/arithmetic';
import { STATEMENT_FORMAT, STATEMENT_NOTES, type Segment, type Statement } from '../../core/statement/format';

const TAGS = ['device', 'topic', 'verified', 'verify_status'];

/** Every identifier in a statement, with what follows it: tags must be `::tag`, all else `::field` or the measurement. */
function identifiers(q: string): { name: string; cast: string }[] {
  return [...q.matchAll(/"((?:[^"\\]|\\.)*)"(::\w+)?/g)].map((m) => ({ name: m[1]!, cast: m[2] ?? '' }));
}

describe('the InfluxQL of a statement', () => {
  const fields = rowFields([
    'ENERGY_Total_2',
    'ENERGY_Total_0',
    'ENERGY_Total_1',
    'Signature',
    'Time',
    'signed_message',
    'verified',
    'device',
    'ENERGY_Power',
  ]);
  const bounds = [
    { op: '>=', ns: 1_709_251_200_000_000_000n },
    { op: '<=', ns: 1_709_251_200_250_000_001n },
  ] as const;
  const statements = [
    rowSelect('mqtt_consumer', fields, 'plug-01', bounds, 'DESC').statement,
    messageSelect('mqtt_consumer', 'plug-01', bounds).statement,
    countStatement('mqtt_consumer', 'plug-01', bounds),
  ];

  it('names every tag as "tag"::tag, and a field of the same name is never read', () => {
    expect(fields).toEqual(['signed_message', 'Signature', 'Time', 'ENERGY_Total_0', 'ENERGY_Total_1', 'ENERGY_Total_2']);
    for (const q of statements) {
      const ids = identifiers(q).filter((i) => !/^c\d+$/.test(i.name) && i.name !== 'mqtt_consumer');
      expect(ids.length).toBeGreaterThan(0);
      for (const { name, cast } of ids) expect(`${name}${cast}`).toBe(`${name}${TAGS.includes(name) ? '::tag' : '::field'}`);
    }
  });

  it('selects accepted readings of the device only, by the device tag or else the topic, within stored-time bounds', () => {
    const q = statements[1]!;
    expect(q).toBe(
      `SELECT "signed_message"::field AS "c1" FROM "mqtt_consumer" WHERE ("device"::tag = 'plug-01' OR ("device"::tag = '' AND ` +
        `"topic"::tag =~ /^[^\\/]*\\/plug-01(?:\\/|$)/)) AND "verified"::tag = 'true' AND "verify_status"::tag = 'ok' AND ` +
        `time >= '2024-03-01T00:00:00Z' AND time <= '2024-03-01T00:00:00.250000001Z'`,
    );
    expect(statements[0]).toMatch(/ ORDER BY time DESC$/);
    expect(rowSelect('m', fields, 'd', [], 'ASC').columns).toEqual(['time', ...TAGS, ...fields]);
  });

  it('quotes any device name: it cannot leave its literal', () => {
    const c = deviceCondition(`a'b"c\\d/e.*`);
    expect(c).toContain(`= 'a\\'b"c\\\\d/e.*'`);
    expect(c).toContain('/^[^\\/]*\\/a\\x{27}b\\x{22}c\\x{5c}d\\x{2f}e\\x{2e}\\x{2a}(?:\\/|$)/');
  });
});

describe('options and outputs', () => {
  it('--from/--to: a date is midnight UTC; RFC 3339 needs a zone', () => {
    expect(parseTimeOption('from', '2024-03-01')).toBe(1_709_251_200_000_000_000n);
    expect(parseTimeOption('from', '2024-03-01T01:00:00+01:00')).toBe(1_709_251_200_000_000_000n);
    expect(() => parseTimeOption('to', '2024-03-01T00:00:00')).toThrow(/--to must be a date .* got "2024-03-01T00:00:00"/);
    expect(() => parseTimeOption('to', 'yesterday')).toThrow(/--to/);
  });

  it('credentials in --url become credentials and leave the URL', () => {
    expect(splitUserInfo('http://u%40x:p%3Ass@influx:8086/base')).toEqual({
      url: 'http://influx:8086/base',
      inUrl: { username: 'u@x', password: 'p:ss' },
    });
    expect(splitUserInfo('http://influx:8086')).toEqual({ url: 'http://influx:8086' });
    expect(splitUserInfo('http://influx:8086/?u=x&p=secret')).toEqual({ url: 'http://influx:8086/' });
    expect(splitUserInfo('not a url with user:pw@host').url).not.toContain('pw');
  });

  it('one file name per device name: nothing but a plain name in the folder, no two alike', () => {
    expect(['plug-01', 'Küche', '../etc/passwd', '.', 'a b', 'a%20b', 'a.json'].map(fileName)).toEqual([
      'plug-01',
      'K%C3%BCche',
      '%2E%2E%2Fetc%2Fpasswd',
      '%2E',
      'a%20b',
      'a%2520b',
      'a%2Ejson',
    ]);
  });

  it('runs at most N devices at once, each once', async () => {
    let running = 0,
      most = 0;
    const seen: number[] = [];
    await eachWithConcurrency(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (i) => {
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, (i * 7) % 5));
        seen.push(i);
        running--;
      },
    );
    expect(most).toBe(3);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});

describe('the HTML page', () => {
  const device = `<img src=x onerror="alert(1)">`;
  const reading = (t: string, total: string, stored: string) => signedReading(t, total, 'ab'.repeat(64), stored);
  const start = reading('2024-03-01T00:00:00', '[1.000,2.000,3.000]', '2024-03-01T00:00:00.25Z');
  const end = reading('2024-03-01T10:00:00', '[2.000,2.500,3.001]', '2024-03-01T10:00:00.25Z');
  const segment: Segment = {
    public_key: 'cd'.repeat(32),
    fingerprint: '01:02:03:04:05:06:07:08',
    start,
    end,
    ...(segmentFigures(start, end) as Pick<Segment, 'consumption_kwh' | 'consumption_kwh_text' | 'phases_kwh_text'>),
    readings: 3601,
  };
  const statement: Statement = {
    format: STATEMENT_FORMAT,
    device,
    from: '2024-03-01T00:00:00Z',
    to: '2024-03-02T00:00:00Z',
    ...derivedFields('2024-03-01T00:00:00Z', '2024-03-02T00:00:00Z', [segment]),
    segments: [segment],
    readings_checked: 3601,
    irregularities: { count: 0, examples: [] },
    source: { database: '</script><script>alert(2)</script>', measurement: 'mqtt_consumer' },
    created: '2024-03-03T00:00:00Z',
    generator: 'test',
    notes: STATEMENT_NOTES,
  };
  const html = statementHtml(statement, 'var s = "</script><!-- x";');

  it('escapes every value and the script, and embeds the statement as inert JSON', () => {
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
    expect(html.match(/<\/script>/g)).toHaveLength(2); // the JSON's and the check's own closing tags
    expect(html).toContain('var s = "<\\/script><\\!-- x";');
    const json = /<script type="application\/json" id="statement">(.*?)<\/script>/s.exec(html)![1]!;
    expect(json).not.toMatch(/</);
    expect(JSON.parse(json)).toEqual(statement);
  });

  it('asks the network for nothing, and prints on A4', () => {
    expect(html).not.toMatch(/(?:src|href)=["']?(?:https?:)?\/\//i);
    expect(html).toContain(`default-src 'none'`);
    expect(html).toMatch(/@page \{ size: A4;/);
  });

  it("binds every figure it shows to the statement's own value", () => {
    const bound = [...html.matchAll(/<span data-bind="([^"]+)"[^>]*>([^<]*)<\/span>/g)].map((m): [string, string] => [m[1]!, m[2]!]);
    const at = (path: string) => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], statement);
    const unescape = (t: string) =>
      t
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&amp;/g, '&');
    expect(bound.map(([p]) => p)).toEqual(
      expect.arrayContaining([
        'consumption_kwh_text',
        'segments.0.end.signed_total',
        'segments.0.start.signature',
        'gaps.0.seconds',
        'phases_kwh_text',
      ]),
    );
    for (const [path, text] of bound) {
      const v = at(path);
      expect(unescape(text), path).toBe(v === null ? '—' : String(v));
    }
  });
});
