/**
 * `meterproof statement` (the built CLI) on a real InfluxDB filled by the built processor from
 * firmware-faithful plugs (sim/plug.ts through the Telegraf stand-in): a plain meter, a three-phase
 * meter in exact mode named only by its topic, a meter hard-reset inside the period (a new key: two
 * segments and a gap), and one whose readings around the period's edges are tampered, replayed or
 * forged straight into the database, none of which may anchor. Then `statement verify` on the
 * statements and on edited copies, and the HTML page in headless Chromium from a file:// URL.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../../cli/keys';
import { structureProblems } from '../../core/statement/verify';
import type { Statement } from '../../core/statement/format';
import { tamper } from '../../sim/fleet';
import { Plug, type PlugReading } from '../../sim/plug';
import { startChromium, type ChromiumSession } from '../harness/chromium';
import { runCli } from '../harness/cli';
import { startInfluxDB, type InfluxServer } from '../harness/influxdb';
import { freePort } from '../harness/ports';
import { startMetricChild } from '../harness/processor';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';

const T0 = Date.parse('2024-03-01T00:00:00Z');
const STEP_MS = 10_000;
/** Stored a quarter second after the plug's clock: the statement shows both, and only the signed one is proven. */
const STORED_LAG_MS = 250;
const READINGS = 360;
const storedNs = (i: number) => BigInt(T0 + i * STEP_MS + STORED_LAG_MS) * 1_000_000n;
/** As InfluxDB prints `time`: RFC 3339 without the fraction's trailing zeros. */
const storedIso = (i: number) => new Date(T0 + i * STEP_MS + STORED_LAG_MS).toISOString().replace(/\.?0+Z$/, 'Z');
const at = (i: number) => new Date(T0 + i * STEP_MS);
/** The period: just after reading 60 (00:10:00) to just after reading 300 (00:50:00). */
const FROM = '2024-03-01T00:10:03Z';
const TO = '2024-03-01T00:50:03Z';

/** Exact decimal difference of two Total texts (independent of core/statement/decimal.ts). */
function minus(a: string, b: string): string {
  const scale = Math.max(a.split('.')[1]?.length ?? 0, b.split('.')[1]?.length ?? 0);
  const units = (t: string) => BigInt(t.replace('.', '') + '0'.repeat(scale - (t.split('.')[1]?.length ?? 0)));
  const d = (units(a) - units(b)).toString().padStart(scale + 1, '0');
  return scale ? `${d.slice(0, -scale)}.${d.slice(-scale)}` : d;
}
const plus = (a: string, b: string) => minus(a, minus('0', b));
const phasesOf = (text: string) => text.replace(/^\[|\]$/g, '').split(',');
const sumOf = (text: string) => phasesOf(text).reduce(plus, '0');

interface Device {
  readonly name: string;
  /** Reading i, or undefined where the plug published nothing. */
  readonly readings: (PlugReading | undefined)[];
  /** What the plug published at i, when it is not readings[i] (tampered, replayed). */
  readonly published: Map<number, string>;
  readonly mode: 'json' | 'value';
  readonly topicOnly?: boolean;
}

function meter(name: string, opts: { phases?: 1 | 3; seed?: string; from?: number; to?: number; startMicroKwh?: number } = {}) {
  const plug = new Plug(
    { name, phases: opts.phases ?? 1, energyRes: 3, startMicroKwh: opts.startMicroKwh ?? 1_234_500 },
    opts.seed ?? 'statement',
  );
  const readings: (PlugReading | undefined)[] = [];
  for (let i = 0; i < READINGS; i++) {
    if (i >= (opts.from ?? 0) && i <= (opts.to ?? READINGS - 1)) {
      plug.consume(350 + ((i * 37) % 200));
      readings[i] = plug.read(at(i));
    }
  }
  return { plug, readings };
}

describe('meterproof statement', () => {
  let influx: InfluxServer;
  let dir: string;
  let keysPath: string;
  const devices: Device[] = [];
  const keyOf: Record<string, string> = {};
  const create = (...extra: string[]) =>
    runCli(['statement', 'create', '--url', influx.url, '--db', 'plugs', '--keys', keysPath, '--from', FROM, '--to', TO, ...extra]);
  const statementOf = async (device: string, ...extra: string[]): Promise<Statement> => {
    const res = await create('--device', device, ...extra);
    expect(res.code, res.stderr).toBe(0);
    const s = JSON.parse(res.stdout) as Statement;
    expect(structureProblems(s)).toEqual([]); // statement.schema.json
    return s;
  };
  const reading = (device: string, i: number) => devices.find((d) => d.name === device)!.readings[i]!;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meterproof-statement-'));
    influx = await startInfluxDB();
    await influx.query('CREATE DATABASE "plugs"');

    const plain = meter('plain-1');
    const three = meter('three-1', { phases: 3 });
    // Hard reset after reading 179: off for a minute, then a new key and a Total starting near zero.
    const before = meter('reset-1', { to: 179 });
    const after = meter('reset-1', { seed: 'after-reset', from: 186, startMicroKwh: 20 });
    const guard = meter('guard-1');
    const guardPublished = new Map<number, string>([
      [60, tamper(guard.readings[60]!)], // the last reading at or before FROM: tampered
      [299, tamper(guard.readings[299]!)],
      [300, guard.readings[295]!.payload], // the last at or before TO: a replay of an earlier reading
    ]);
    devices.push(
      { name: 'plain-1', readings: plain.readings, published: new Map(), mode: 'json' },
      { name: 'three-1', readings: three.readings, published: new Map(), mode: 'value', topicOnly: true },
      {
        name: 'reset-1',
        readings: Array.from({ length: READINGS }, (_, i) => before.readings[i] ?? after.readings[i]),
        published: new Map(),
        mode: 'json',
      },
      { name: 'guard-1', readings: guard.readings, published: guardPublished, mode: 'json' },
    );
    Object.assign(keyOf, {
      'plain-1': plain.plug.publicKeyHex,
      'three-1': three.plug.publicKeyHex,
      'reset-1 old': before.plug.publicKeyHex,
      'reset-1 new': after.plug.publicKeyHex,
      'guard-1': guard.plug.publicKeyHex,
    });
    const idle = new Plug({ name: 'idle-1' }, 'statement');
    keysPath = join(dir, 'pub_keys.json');
    await writeFile(
      keysPath,
      JSON.stringify({
        'plain-1': plain.plug.publicKeyHex,
        'three-1': three.plug.publicKeyHex,
        'reset-1': [
          { key: before.plug.publicKeyHex, not_after: '2024-03-01T00:30:00', label: 'until the hard reset' },
          { key: after.plug.publicKeyHex, not_before: '2024-03-01T00:30:00', label: 'after the hard reset' },
        ],
        'guard-1': guard.plug.publicKeyHex,
        'idle-1': idle.publicKeyHex,
      }),
    );

    const stored: string[] = [];
    const processor = startMetricChild(['--keys', keysPath], (line) => stored.push(line));
    for (const d of devices) {
      d.readings.forEach((r, i) => {
        if (!r) return;
        const payload = d.published.get(i) ?? r.payload;
        processor.send(telegrafLine(r.topic, payload, storedNs(i), { mode: d.mode, ...(!d.topicOnly && { topicTags: '_/device/_' }) }));
      });
    }
    const { code, stderr } = await processor.close();
    expect(code, stderr).toBe(0);
    // Someone with write access adds a verified-looking row just before TO: reading 298 with a bigger
    // Total, its signed_message edited to match. Its signature cannot vouch for it.
    const genuine = stored.find((l) => l.includes('device=guard-1') && l.endsWith(` ${storedNs(298)}`))!;
    expect(genuine).toContain('verify_status=ok');
    const forged = genuine
      .replace(/([ ,])ENERGY_Total=[^, ]+/, '$1ENERGY_Total=99999.5')
      .replace(/signed_message="([^,]+),[^"]*"/, 'signed_message="$1,99999.500"')
      .replace(/ \d+$/, ` ${storedNs(300) + 1_000_000_000n}`);
    await influx.write('plugs', [...stored, forged].join('\n'));
    const verdicts = (d: string, status: string) =>
      stored.filter((l) => l.includes(`/${d}/SENSOR`) && l.includes(`verify_status=${status} `)).length;
    expect([verdicts('guard-1', 'bad_signature'), verdicts('guard-1', 'replay')]).toEqual([2, 1]);
    expect(verdicts('reset-1', 'ok')).toBe(180 + 174); // the new key's lower Total is accepted as a restart
    expect(verdicts('three-1', 'ok')).toBe(READINGS);
  });

  afterAll(async () => {
    await influx?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a plain meter: the difference of the signed Totals at the anchors, exactly', async () => {
    const s = await statementOf('plain-1');
    expect(structureProblems(s)).toEqual([]);
    const start = reading('plain-1', 60),
      end = reading('plain-1', 300);
    expect(s).toMatchObject({
      format: 'meterproof-statement/1',
      device: 'plain-1',
      from: FROM,
      to: TO,
      consumption_kwh_text: minus(end.totalText, start.totalText),
      consumption_kwh: Number(minus(end.totalText, start.totalText)),
      phases_kwh_text: null,
      readings_checked: 241,
      irregularities: { count: 0, examples: [] },
      source: { database: 'plugs', measurement: 'mqtt_consumer' },
    });
    expect(s.segments).toEqual([
      {
        public_key: keyOf['plain-1'],
        fingerprint: fingerprint(keyOf['plain-1']!),
        start: {
          signed_time: '2024-03-01T00:10:00',
          signed_total: start.totalText,
          signed_message: start.message,
          signature: start.signature,
          stored_time: storedIso(60),
        },
        end: {
          signed_time: '2024-03-01T00:50:00',
          signed_total: end.totalText,
          signed_message: end.message,
          signature: end.signature,
          stored_time: storedIso(300),
        },
        consumption_kwh: Number(minus(end.totalText, start.totalText)),
        consumption_kwh_text: minus(end.totalText, start.totalText),
        phases_kwh_text: null,
        readings: 241,
      },
    ]);
    // No reading is missing at FROM; the last one before TO leaves 2.75 s that no signature covers.
    expect(s.gaps).toEqual([
      {
        kind: 'after_last_reading',
        from: storedIso(300),
        to: TO,
        seconds: 2.75,
        from_signed_time: '2024-03-01T00:50:00',
        to_signed_time: null,
      },
    ]);
    expect(s.notes.join(' ')).toMatch(/Only the signed times .* are proven/);
  });

  it('a three-phase meter in exact mode, named only by its topic: per phase and their sum', async () => {
    const s = await statementOf('three-1');
    const start = reading('three-1', 60).totalText,
      end = reading('three-1', 300).totalText;
    expect(start).toMatch(/^\[\d+\.\d{3},\d+\.\d{3},\d+\.\d{3}\]$/);
    const phases = phasesOf(end).map((e, k) => minus(e, phasesOf(start)[k]!));
    expect(s.phases_kwh_text).toEqual(phases);
    expect(s.segments[0]!.phases_kwh_text).toEqual(phases);
    expect(s.consumption_kwh_text).toBe(minus(sumOf(end), sumOf(start)));
    expect(s.consumption_kwh_text).toBe(phases.reduce(plus, '0'));
    expect(s.segments[0]!.start.signed_total).toBe(start);
  });

  it('a meter hard-reset inside the period: one segment per key, and the reset between them is a gap', async () => {
    const s = await statementOf('reset-1');
    const [a, b] = [reading('reset-1', 60), reading('reset-1', 179)];
    const [c, d] = [reading('reset-1', 186), reading('reset-1', 300)];
    expect(s.segments.map((g) => [g.public_key, g.start.signed_total, g.end.signed_total, g.readings])).toEqual([
      [keyOf['reset-1 old'], a.totalText, b.totalText, 120],
      [keyOf['reset-1 new'], c.totalText, d.totalText, 115],
    ]);
    expect(Number(c.totalText)).toBeLessThan(0.01); // the new counter starts near zero
    expect(s.gaps).toEqual([
      {
        kind: 'between_segments',
        from: storedIso(179),
        to: storedIso(186),
        seconds: 70,
        from_signed_time: '2024-03-01T00:29:50',
        to_signed_time: '2024-03-01T00:31:00',
      },
      expect.objectContaining({ kind: 'after_last_reading', seconds: 2.75 }),
    ]);
    expect(s.consumption_kwh_text).toBe(plus(minus(b.totalText, a.totalText), minus(d.totalText, c.totalText)));
    expect(s.readings_checked).toBe(235);
  });

  it('never anchors on a tampered, replayed or forged reading; the forged one is reported', async () => {
    const s = await statementOf('guard-1');
    const [start, end] = [reading('guard-1', 59), reading('guard-1', 298)];
    expect(s.segments).toHaveLength(1);
    expect(s.segments[0]!.start).toMatchObject({
      signed_time: '2024-03-01T00:09:50',
      signed_total: start.totalText,
      stored_time: storedIso(59),
    });
    expect(s.segments[0]!.end).toMatchObject({
      signed_time: '2024-03-01T00:49:40',
      signed_total: end.totalText,
      stored_time: storedIso(298),
    });
    expect(s.consumption_kwh_text).toBe(minus(end.totalText, start.totalText));
    expect(s.irregularities.count).toBe(1);
    expect(s.irregularities.examples[0]).toMatchObject({ kind: 'not_reverified', signed_message: '2024-03-01T00:49:40,99999.500' });
    // The processor rejected readings 60 and 299 (bad signature) and 300 (replay): never read.
    expect(s.readings_checked).toBe(298 - 59 + 1 - 1);
  });

  it('exits 2 when the device has no verified reading in the period, or the database cannot be read', async () => {
    const early = await runCli([
      'statement',
      'create',
      '--url',
      influx.url,
      '--db',
      'plugs',
      '--keys',
      keysPath,
      '--device',
      'plain-1',
      '--from',
      '2024-02-01',
      '--to',
      '2024-02-02',
    ]);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/device "plain-1" has no verified reading from 2024-02-01T00:00:00Z to 2024-02-02T00:00:00Z/);
    expect(early.stdout).toBe('');
    const idle = await create('--device', 'idle-1');
    expect(idle.code).toBe(2);
    const unknown = await create('--device', 'nobody');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/"nobody" is not in/);
    const closed = await runCli([
      'statement',
      'create',
      '--url',
      `http://u:secret-pw@127.0.0.1:${await freePort()}`,
      '--db',
      'plugs',
      '--keys',
      keysPath,
      '--device',
      'plain-1',
      '--from',
      FROM,
      '--to',
      TO,
    ]);
    expect(closed.code).toBe(2);
    expect(closed.stderr).toMatch(/cannot reach InfluxDB.*ECONNREFUSED/);
    expect(closed.stderr).not.toContain('secret-pw');
    const noDb = await runCli([
      'statement',
      'create',
      '--url',
      influx.url,
      '--db',
      'missing',
      '--keys',
      keysPath,
      '--device',
      'plain-1',
      '--from',
      FROM,
      '--to',
      TO,
    ]);
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(/database not found/);
    const backwards = await runCli([
      'statement',
      'create',
      '--url',
      influx.url,
      '--db',
      'plugs',
      '--keys',
      keysPath,
      '--device',
      'plain-1',
      '--from',
      TO,
      '--to',
      FROM,
    ]);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/--from .* must be before --to/);
  });

  it('--all: one statement per registered device, one file each; a device without readings exits 2', async () => {
    const out = join(dir, 'all');
    const pages = join(dir, 'all-html');
    const res = await create('--all', '--out', out, '--html', pages, '--concurrency', '3');
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/device "idle-1" has no verified reading/);
    expect((await readdir(out)).sort()).toEqual(['guard-1.json', 'plain-1.json', 'reset-1.json', 'three-1.json']);
    expect((await readdir(pages)).sort()).toEqual(['guard-1.html', 'plain-1.html', 'reset-1.html', 'three-1.html']);
    expect(res.stdout).toMatch(/^reset-1: [\d.]+ kWh proven in 2 segments, 2 gaps, 235 readings checked$/m);
    for (const d of ['plain-1', 'reset-1']) {
      const alone = await statementOf(d);
      const fromAll = JSON.parse(await readFile(join(out, `${d}.json`), 'utf8')) as Statement;
      expect({ ...fromAll, created: '' }).toEqual({ ...alone, created: '' });
    }
    const several = await create('--device', 'plain-1', '--device', 'three-1');
    expect(several.code).toBe(0);
    const list = JSON.parse(several.stdout) as Statement[];
    expect(list.map((s) => s.device)).toEqual(['plain-1', 'three-1']);
    for (const s of list) expect(structureProblems(s)).toEqual([]);
    const listFile = join(dir, 'several.json');
    await writeFile(listFile, several.stdout);
    const checked = await runCli(['statement', 'verify', listFile, '--keys', keysPath]);
    expect(checked.code, checked.stdout).toBe(0);
    expect(checked.stdout).toMatch(/several\.json \[0\]: valid statement for device "plain-1"/);
    expect(checked.stdout).toMatch(/several\.json \[1\]: valid statement for device "three-1"/);
  });

  describe('statement verify', () => {
    const file = (name: string) => join(dir, name);
    const save = async (name: string, doc: unknown) => (await writeFile(file(name), JSON.stringify(doc, null, 2)), file(name));
    const verify = (path: string, ...extra: string[]) => runCli(['statement', 'verify', path, ...extra]);
    let reset: Statement;
    beforeAll(async () => {
      const res = await create('--device', 'reset-1', '--out', file('reset.json'));
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/^reset-1: [\d.]+ kWh proven in 2 segments, 2 gaps, 235 readings checked\n$/);
      reset = JSON.parse(await readFile(file('reset.json'), 'utf8')) as Statement;
    });

    it('accepts a genuine statement, with and without the registry', async () => {
      const bare = await verify(file('reset.json'));
      expect(bare.code, bare.stdout).toBe(0);
      expect(bare.stdout).toMatch(/valid statement for device "reset-1": [\d.]+ kWh proven in 2 segment\(s\)/);
      expect(bare.stdout).toContain('4 signatures verify');
      expect(bare.stdout).toMatch(/keys were taken from the statement itself: compare their fingerprints with the plugs'/);
      expect(bare.stdout).toContain(fingerprint(keyOf['reset-1 new']!));
      const registered = await verify(file('reset.json'), '--keys', keysPath);
      expect(registered.code, registered.stdout).toBe(0);
      expect(registered.stdout).toMatch(/every key is registered for the device/);
    });

    it('refuses an edited end reading, also when the consumption is edited to match', async () => {
      const edited = structuredClone(reset) as any;
      const end = edited.segments[1].end;
      const bigger = minus(end.signed_total, '-1.000');
      end.signed_total = bigger;
      end.signed_message = `${end.signed_time},${bigger}`;
      const alone = await verify(await save('edited.json', edited));
      expect(alone.code).toBe(1);
      expect(alone.stdout).toMatch(/segment 2 end reading: the signature does not verify/);
      expect(alone.stdout).toMatch(/consumption_kwh_text .* is not /);

      const seg = edited.segments[1];
      seg.consumption_kwh_text = minus(bigger, seg.start.signed_total);
      seg.consumption_kwh = Number(seg.consumption_kwh_text);
      edited.consumption_kwh_text = plus(edited.segments[0].consumption_kwh_text, seg.consumption_kwh_text);
      edited.consumption_kwh = Number(edited.consumption_kwh_text);
      const matched = await verify(await save('matched.json', edited));
      expect(matched.code).toBe(1);
      expect(matched.stdout.trim().split('\n').slice(1)).toEqual([
        expect.stringMatching(
          /^ {2}- segment 2 end reading: the signature does not verify "2024-03-01T00:50:00,[\d.]+" under the segment's key$/,
        ),
      ]);
    });

    it("refuses a statement whose key is not in the registry, or not the device's", async () => {
      const other = await save('other-keys.json', { 'reset-1': keyOf['plain-1'], 'plain-1': keyOf['plain-1'] });
      const res = await verify(file('reset.json'), '--keys', other);
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/segment 1: key [0-9a-f:]+ is not registered for device "reset-1"/);
      const missing = await save('missing-keys.json', { 'plain-1': keyOf['plain-1'] });
      const gone = await verify(file('reset.json'), '--keys', missing);
      expect(gone.code).toBe(1);
      expect(gone.stdout).toMatch(/device "reset-1" is not in the key registry/);
      // The old key closed before the second segment: valid only up to its not_after.
      const swapped = structuredClone(reset) as any;
      [swapped.segments[0], swapped.segments[1]] = [swapped.segments[1], swapped.segments[0]];
      const out = await verify(await save('swapped.json', swapped), '--keys', keysPath);
      expect(out.code).toBe(1);
      expect(out.stdout).toMatch(/overlap or are out of order/);
    });

    it('refuses overlapping segments, even with the figures and gaps made to match', async () => {
      const twice = structuredClone(reset) as any;
      twice.segments = [twice.segments[0], twice.segments[0], twice.segments[1]];
      twice.consumption_kwh_text = [0, 0, 1].map((i) => reset.segments[i]!.consumption_kwh_text).reduce(plus, '0');
      twice.consumption_kwh = Number(twice.consumption_kwh_text);
      const g = reset.gaps[0]!;
      twice.gaps = [
        {
          ...g,
          from: reset.segments[0]!.end.stored_time,
          to: reset.segments[0]!.start.stored_time,
          seconds: 0,
          from_signed_time: reset.segments[0]!.end.signed_time,
          to_signed_time: reset.segments[0]!.start.signed_time,
        },
        ...reset.gaps,
      ];
      const res = await verify(await save('overlap.json', twice));
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/segments 1 and 2 overlap or are out of order/);
    });

    it('exits 2 on a file it cannot read', async () => {
      expect((await verify(file('nothing-here.json'))).code).toBe(2);
      await writeFile(file('broken.json'), '{"format": ');
      const broken = await verify(file('broken.json'));
      expect(broken.code).toBe(2);
      expect(broken.stderr).toMatch(/not JSON/);
      const keys = await verify(file('reset.json'), '--keys', file('nothing-here.json'));
      expect(keys.code).toBe(2);
      const notStatement = await verify(await save('not-a-statement.json', { device: 'x' }));
      expect(notStatement.code).toBe(1);
      expect(notStatement.stdout).toMatch(/not a statement: \$: "format" is required/);
    });
  });

  describe('the HTML statement in Chromium, from a file:// URL', () => {
    let chromium: ChromiumSession;
    let html: string;
    beforeAll(async () => {
      chromium = await startChromium();
      html = join(dir, 'reset.html');
      const res = await create('--device', 'reset-1', '--out', join(dir, 'for-html.json'), '--html', html);
      expect(res.code, res.stderr).toBe(0);
    });
    afterAll(async () => chromium?.stop());

    const check = async (path: string) => {
      const { page, errors } = await chromium.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(path).href);
      await page.click('#check');
      await page.waitForSelector('#result[data-outcome]', { timeout: 30_000 });
      const outcome = await page.getAttribute('#result', 'data-outcome');
      const text = (await page.textContent('#result')) ?? '';
      const marks = await page.$$eval('.mark', (els) => els.map((e) => e.textContent));
      return { page, errors, outcome, text, marks, requests };
    };

    it('passes: every signature re-verified in the browser, nothing fetched', async () => {
      const r = await check(html);
      expect(r.errors).toEqual([]);
      expect(r.outcome, r.text).toBe('pass');
      expect(r.text).toMatch(/^PASS — all 4 signatures verify \(Ed25519, strict\)/);
      expect(r.marks).toEqual(['✓ verifies', '✓ verifies', '✓ verifies', '✓ verifies']);
      expect(r.requests).toEqual([pathToFileURL(html).href]);
      await r.page.close();
    });

    it('fails for an edited copy: a signed Total in the embedded statement, or only the figure shown', async () => {
      const text = await readFile(html, 'utf8');
      const s = JSON.parse(/<script type="application\/json" id="statement">(.*?)<\/script>/s.exec(text)![1]!) as Statement;
      const endTotal = s.segments[1]!.end.signed_total;
      const edited = join(dir, 'edited.html');
      await writeFile(edited, text.split(endTotal).join(minus(endTotal, '-0.500')));
      const r = await check(edited);
      expect(r.outcome).toBe('fail');
      expect(r.text).toMatch(/FAIL — this statement does not hold/);
      expect(r.text).toMatch(/segment 2 end reading: the signature does not verify/);
      expect(r.marks).toEqual(['✓ verifies', '✓ verifies', '✓ verifies', '✗ does not verify']);
      await r.page.close();

      const shown = join(dir, 'shown.html');
      await writeFile(
        shown,
        text.replace(
          `<span class="big"><span data-bind="consumption_kwh_text">${s.consumption_kwh_text}<`,
          '<span class="big"><span data-bind="consumption_kwh_text">999.999<',
        ),
      );
      const v = await check(shown);
      expect(v.outcome).toBe('fail');
      expect(v.text).toContain(`the page shows consumption_kwh_text as "999.999", the statement says "${s.consumption_kwh_text}"`);
      await v.page.close();
    });

    it('prints on one A4 page', async () => {
      const { page } = await chromium.newPage();
      await page.goto(pathToFileURL(html).href);
      const pdf = await page.pdf({ format: 'A4', preferCSSPageSize: true });
      expect(pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g)).toHaveLength(1);
      await page.close();
    });
  });
});
