/**
 * A 1,000,000-metric soak through the real processor with bounded memory, and hostile input that
 * must get the right status and a clear log line without costing a metric.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Plug } from '../../sim/plug';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';
import { collect, runProcessor, startProcessor, tempDir, writeKeys } from '../harness/processor';
import { decode, splitLines, tag } from '../harness/metrics';

const dir = tempDir();
const plugs = Array.from({ length: 50 }, (_, i) => new Plug({ name: `soak-${i}`, energyRes: 3 }, 'soak'));
const keys = writeKeys(dir, Object.fromEntries(plugs.map((p) => [p.name, p.publicKeyHex])));
const T0 = Date.UTC(2025, 0, 1);
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

describe('soak', () => {
  it('passes 1,000,000 metrics, one out per in, in bounded memory', async () => {
    // 20 % signed readings (a pool of 2,000, so repeats are replays), the rest ordinary metrics.
    const pool = plugs.flatMap((p) => Array.from({ length: 40 }, (_, r) => (p.consume(5), p.read(new Date(T0 + r * 1000)))));
    const signedLines = pool.map((r) => telegrafLine(r.topic, r.payload, 1n, { mode: 'json', topicTags: '_/device/_' }));
    const TOTAL = 1_000_000,
      BATCH = 10_000;
    const child = startProcessor(['--keys', keys]);
    const done = collect(child);
    let outLines = 0,
      seq = 0;
    child.stdout.on('data', (d: Buffer) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) outLines++;
    });
    const samples: number[] = [];
    while (seq < TOTAL) {
      const lines: string[] = [];
      for (let i = 0; i < BATCH; i++, seq++) {
        lines.push(
          seq % 5 === 0
            ? signedLines[(seq / 5) % signedLines.length]!
            : `cpu,host=h${seq % 97},cpu=cpu${seq % 4} usage_idle=${seq % 100}.5,usage_user=1.25 ${seq}\n`,
        );
      }
      await new Promise<void>((r) => (child.stdin.write(lines.join('')) ? r() : child.stdin.once('drain', () => r())));
      if (seq % 100_000 === 0) samples.push(rssKb(child.pid!));
    }
    child.stdin.end();
    const r = await done;
    expect(r.code).toBe(0);
    expect(outLines).toBe(TOTAL);
    // Bounded: after the first 100,000 metrics memory does not keep growing with input.
    const [first, ...rest] = samples;
    expect(Math.max(...rest) - first!).toBeLessThan(48 * 1024);
    expect(Math.max(...samples)).toBeLessThan(200 * 1024);
    console.log(`soak: 1,000,000 metrics, RSS samples (MB): ${samples.map((s) => (s / 1024).toFixed(0)).join(' ')}`);
  }, 240_000);
});

describe('hostile input', () => {
  const p = new Plug({ name: 'soak-0', energyRes: 3, startMicroKwh: 9_000_000 }, 'soak');
  const r = p.read(new Date(T0 + 10_000_000));
  const json = (payload: string) => telegrafLine(r.topic, payload, 1n, { mode: 'json', topicTags: '_/device/_' });
  const exact = (payload: string) => telegrafLine(r.topic, payload, 1n, { mode: 'value', topicTags: '_/device/_' });
  const cases: { what: string; line: string | Buffer; status: string; log?: RegExp }[] = [
    { what: 'the genuine reading', line: json(r.payload), status: 'ok' },
    {
      what: 'a 4 MiB string field',
      line: json(r.payload.replace('"ENERGY"', `"Blob":"${'x'.repeat(4 << 20)}","ENERGY"`)).replace(
        'Time="',
        'Blob="' + 'x'.repeat(4 << 20) + '",Time="',
      ),
      status: 'replay',
    },
    {
      what: 'deeply nested JSON in exact mode',
      line: exact(`{"Signature":"${r.signature}","Time":"${r.time}","a":${'['.repeat(5000)}${']'.repeat(5000)}}`),
      status: 'malformed',
      log: /nesting deeper than 32/,
    },
    {
      what: 'a huge JSON payload in exact mode',
      line: exact(r.payload.replace('"ENERGY"', `"Junk":[${Array(200_000).fill('1.5').join(',')}],"ENERGY"`)),
      status: 'replay',
    },
    {
      what: 'NUL bytes in the payload',
      line: exact(r.payload.replace('"Voltage"', '"Volt\u0000age"')),
      status: 'malformed',
      log: /payload is not valid JSON/,
    },
    {
      what: 'duplicated Signature fields',
      line: json(r.payload).replace('Time="', `Signature="${r.signature}",Time="`),
      status: 'malformed',
      log: /duplicate field Signature/,
    },
    {
      what: 'duplicated JSON key in exact mode',
      line: exact(r.payload.replace('"ENERGY":{', '"ENERGY":{"Total":0.001,')),
      status: 'malformed',
      log: /duplicate key "Total"/,
    },
    {
      what: 'Total 1e400 in exact mode',
      line: exact(r.payload.replace(`"Total":${r.totalText}`, '"Total":1e400')),
      status: 'malformed',
      log: /not a finite number/,
    },
    { what: 'Total -0', line: json(r.payload.replace(`"Total":${r.totalText}`, '"Total":-0.000')), status: 'bad_signature' },
    {
      what: 'Total 1e21 (beyond what the firmware prints)',
      line: json(r.payload.replace(`"Total":${r.totalText}`, '"Total":1e21')),
      status: 'malformed',
      log: /not a value the firmware can print/,
    },
    {
      what: 'white space inside the exact-mode Total (the firmware prints none)',
      line: exact(r.payload.replace(`"Total":${r.totalText}`, `"Total":[${r.totalText},\n${r.totalText}]`)),
      status: 'malformed',
      log: /contains white space/,
    },
    {
      what: 'two fields named ENERGY_Total after flattening',
      line: exact(r.payload.replace('"ENERGY":{', '"ENERGY_Total":99,"ENERGY":{')),
      status: 'malformed',
      log: /two fields named ENERGY_Total after flattening/,
    },
    {
      what: 'a Time that is not a date',
      line: json(r.payload.replace(r.time, 'yesterday at noon!!')),
      status: 'malformed',
      log: /"yesterday at noon!!" is not a date and time/,
    },
  ];

  it.each(cases)('$what → $status', async ({ line, status, log }) => {
    const res = await runProcessor(['--keys', keys], Buffer.concat([Buffer.from(json(r.payload)), Buffer.from(line)]));
    const out = splitLines(res.stdout);
    expect(out.length).toBe(2);
    expect(tag(decode(out[1]!), 'verify_status')).toBe(status === 'ok' ? 'replay' : status);
    if (log) expect(res.stderr).toMatch(new RegExp(`^W! .*${log.source}`, 'm'));
    expect(res.stderr.split('\n').every((l) => l.length < 65536)).toBe(true);
  });

  it("never writes payload fields under meterproof's names, or with names line protocol cannot carry", async () => {
    const payload = r.payload.replace(
      '"ENERGY":{',
      '"verified":true,"verify_status":"ok","signed_message":"x","":1,"\\u0007":2,"ENERGY":{',
    );
    const res = await runProcessor(['--keys', keys], exact(payload));
    const [out] = splitLines(res.stdout);
    const m = decode(out!);
    expect(m.fields.map(([k]) => k).filter((k) => ['verified', 'verify_status', ''].includes(k))).toEqual([]);
    expect(m.tags.filter(([k]) => k === 'verified').length).toBe(1);
    expect(out!.toString()).not.toMatch(/,=/);
  });

  it('passes lines that are not line protocol (NaN, 1e400, invalid UTF-8, NUL) through untouched', async () => {
    const bad = [
      Buffer.from('m v=NaN 1'),
      Buffer.from('m v=1e400 1'),
      Buffer.from('m,t=\xff v=1 1', 'latin1'),
      Buffer.from('m\u0000 v=1 1'),
    ];
    const res = await runProcessor(['--keys', keys], Buffer.concat(bad.flatMap((b) => [b, Buffer.from('\n')])));
    expect(splitLines(res.stdout)).toEqual(bad);
    expect(res.stderr.match(/^W! passing through a line that is not valid line protocol/gm)?.length).toBe(4);
  });
});
