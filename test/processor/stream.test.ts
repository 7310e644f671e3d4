/**
 * An independently generated stream of Telegraf-shaped metrics through the real dist/processor.js.
 * Readings are signed by emulated plugs (sim/plug.ts, firmware rules) and turned into lines by the
 * Telegraf stand-in (test/harness), which reproduces mqtt_consumer + json v1 / value + the influx
 * serializer byte for byte. Every verdict must match how the message was made, and every metric
 * must come out otherwise unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { SimulatedFleet, type FleetMessage } from '../../sim/fleet';
import { Plug } from '../../sim/plug';
import type { VerifyStatus } from '../../core/status';
import { serialize, telegrafLine } from '../harness/telegraf-mqtt-consumer';
import { runProcessor, tempDir, writeKeys, type RunResult } from '../harness/processor';
import { decode, splitLines, stringField, tag } from '../harness/metrics';
import { mulberry32 } from '../../sim/fleet';

interface Case {
  line: string;
  expected: VerifyStatus;
  message?: string;
  what: string;
  exact?: boolean;
}

const T0 = Date.UTC(2024, 2, 1, 12, 0, 0);
const rng = mulberry32(7);
const shuffle = <T>(xs: T[]): T[] =>
  xs
    .map((x) => [rng(), x] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, x]) => x);

function buildStream(): { cases: Case[]; keys: Record<string, string> } {
  const fleet = new SimulatedFleet(
    [
      ...[0, 1, 2, 3, 4, 5].map((res) => ({ name: `res${res}-plug`, energyRes: res })),
      { name: 'three-phase', energyRes: 3, phases: 3 as const },
      { name: 'zoned', energyRes: 2, zone: '+01:00' },
      { name: 'trailing-zero', energyRes: 3, startMicroKwh: 150_000 }, // prints 1.500 → float 1.5
    ],
    'stream-test',
    [{ name: 'stranger', energyRes: 3 }],
  );
  const cases: Case[] = [];
  const add = (m: FleetMessage, i: number, what = m.fault) => {
    const exact = i % 4 === 0;
    cases.push({
      line: telegrafLine(m.topic, m.payload, BigInt(T0 + i) * 1_000_000n, {
        mode: exact ? 'value' : 'json',
        topicTags: '_/device/_',
        orderFields: shuffle,
      }),
      expected: m.expected,
      what,
      exact,
    });
  };
  let i = 0;
  for (let r = 0; r < 40; r++) {
    for (const m of fleet.round(new Date(T0 + r * 10_000), {
      tampered: 0.06,
      foreign_signature: 0.04,
      unsigned: 0.04,
      replayed: 0.05,
      rolled_back: 0.04,
    }))
      add(m, i++);
  }

  // Rounding forgeries: a value that differs from the signed text within its rounding step.
  const r1 = new Plug({ name: 'forged', energyRes: 3, startMicroKwh: 1_000_000 }, 'stream-test').read(new Date(T0 + 999_000));
  const keys = { ...fleet.publicKeys(), forged: new Plug({ name: 'forged' }, 'stream-test').publicKeyHex };
  const forge = (payload: string, from: string, to: string, what: string) =>
    cases.push({
      line: telegrafLine('tele/forged/SENSOR', payload.replace(`"Total":${from}`, `"Total":${to}`), BigInt(T0) * 1_000_000n, {
        mode: 'json',
        topicTags: '_/device/_',
      }),
      expected: 'bad_signature',
      what,
    });
  expect(r1.totalText).toBe('10.000');
  forge(r1.payload, '10.000', '10.0004', 'rounding forgery: 10.0004 rounds to the signed 10.000');
  forge(r1.payload, '10.000', '9.9996', 'rounding forgery: 9.9996 rounds to the signed 10.000');

  // The firmware's own trailing zeros and integer totals must verify.
  const whole = new Plug({ name: 'forged', energyRes: 3, startMicroKwh: 1_000_000 }, 'stream-test').read(new Date(T0 + 1_000_000));
  cases.push({
    line: telegrafLine(whole.topic, whole.payload, 1n, { mode: 'json', topicTags: '_/device/_' }),
    expected: 'ok',
    message: whole.message,
    what: 'Total 10.000 arrives as float 10',
  });

  // Malformed readings.
  const base = new Plug({ name: 'forged', energyRes: 3, startMicroKwh: 2_000_000 }, 'stream-test').read(new Date(T0 + 2_000_000));
  const mal = (payload: string, what: string, expected: VerifyStatus = 'malformed') =>
    cases.push({ line: telegrafLine(base.topic, payload, 2n, { mode: 'json', topicTags: '_/device/_' }), expected, what });
  mal(base.payload.replace(base.signature, base.signature.slice(0, 127)), '127 hex digits');
  mal(base.payload.replace(base.signature, `${base.signature.slice(0, 127)}g`), 'non-hex signature');
  mal(base.payload.replace(/"Time":"[^"]*",/, ''), 'no Time');
  mal(base.payload.replace(/"Time":"[^"]*"/, '"Time":"2024-02-30T12:00:00"'), 'Time that is not a date');
  mal(base.payload.replace(/"Total":[^,]*,/, ''), 'no Total');
  cases.push({
    line: telegrafLine(base.topic, base.payload.replace(base.signature, base.signature.toUpperCase()), 2n, {
      mode: 'json',
      topicTags: '_/device/_',
    }),
    expected: 'ok',
    message: base.message,
    what: 'upper-case hex is the same signature',
  });

  // Not a meter reading at all, and escaping that Telegraf produces.
  cases.push({
    line: 'cpu,cpu=cpu-total,host=h usage_idle=98.5,usage_user=1.25 1700000000000000000\n',
    expected: 'unsigned',
    what: 'cpu metric',
  });
  const esc = new Plug({ name: 'forged', energyRes: 3, startMicroKwh: 3_000_000 }, 'stream-test').read(new Date(T0 + 3_000_000));
  cases.push({
    line: serialize(
      'mqtt consumer',
      { device: 'forged', host: 'edge host,eu=1', topic: esc.topic },
      [
        ['Signature', esc.signature],
        ['Time', esc.time],
        ['ENERGY_Total', Number(esc.totalText)],
        ['note', 'two\nlines "quoted" \\ back\\'],
      ],
      3n,
    ),
    expected: 'ok',
    message: esc.message,
    what: 'escaped measurement/tags and a string with raw newlines',
  });
  return { cases, keys };
}

describe('processor on an independently generated stream', () => {
  const dir = tempDir();
  const { cases, keys } = buildStream();
  let result: RunResult;
  let outLines: Buffer[];

  beforeAll(async () => {
    result = await runProcessor(['--keys', writeKeys(dir, keys)], cases.map((c) => c.line).join(''));
    outLines = splitLines(result.stdout);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and emits exactly one metric per metric in', () => {
    expect(result.code).toBe(0);
    expect(outLines.length).toBe(cases.length);
  });

  it('covers every fault and status', () => {
    const statuses = new Set(cases.map((c) => c.expected));
    expect([...statuses].sort()).toEqual(['bad_signature', 'malformed', 'ok', 'replay', 'rollback', 'unknown_device', 'unsigned']);
    expect(cases.filter((c) => c.exact).length).toBeGreaterThan(50);
  });

  it('gives the expected verdict on every metric', () => {
    const wrong = cases.flatMap((c, i) => {
      const m = decode(outLines[i]!);
      const got = tag(m, 'verify_status');
      return got === c.expected && tag(m, 'verified') === String(c.expected === 'ok')
        ? []
        : [`#${i} ${c.what}: expected ${c.expected}, got ${got}`];
    });
    expect(wrong).toEqual([]);
  });

  it('adds signed_message exactly on verified metrics, equal to what the plug signed', () => {
    cases.forEach((c, i) => {
      const sm = stringField(decode(outLines[i]!), 'signed_message');
      if (c.expected !== 'ok') expect(sm, c.what).toBeUndefined();
      else if (c.message) expect(sm, c.what).toBe(c.message);
      else expect(sm, c.what).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,(\d+(\.\d+)?|\[[\d.,]+\])$/);
    });
  });

  it('leaves every json-mode metric byte-for-byte unchanged apart from the added tags and field', () => {
    cases.forEach((c, i) => {
      if (c.exact) return;
      const stripped = outLines[i]!.toString()
        .replace(/,verified=(true|false),verify_status=[a-z_]+/, '')
        .replace(/,signed_message="[^"]*"/, '');
      expect(`${stripped}\n`, c.what).toBe(c.line);
    });
  });

  it('keeps measurement, tags, fields and timestamp of exact-mode metrics, and adds json v1 fields', () => {
    cases.forEach((c, i) => {
      if (!c.exact) return;
      const input = decode(Buffer.from(c.line.slice(0, -1)));
      const output = decode(outLines[i]!);
      expect(output.name).toBe(input.name);
      expect(output.time).toBe(input.time);
      expect(output.tags.filter(([k]) => k !== 'verified' && k !== 'verify_status')).toEqual(input.tags);
      expect(output.fields.slice(0, input.fields.length)).toEqual(input.fields);
      if (c.expected === 'bad_signature' || c.expected === 'ok' || c.expected === 'replay' || c.expected === 'unknown_device') {
        // What json v1 would have produced from the same payload (the stand-in is the oracle).
        const payload = stringField(input, 'value')!;
        const v1 = decode(Buffer.from(telegrafLine('t/x/y', payload, 0n, { mode: 'json' }).slice(0, -1)));
        const added = Object.fromEntries(output.fields.slice(input.fields.length).filter(([k]) => k !== 'signed_message'));
        expect(added).toEqual(Object.fromEntries(v1.fields));
      }
    });
  });
});
