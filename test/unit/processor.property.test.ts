/**
 * Property tests (fast-check) over random and mutated line protocol and payloads: the pipeline never
 * throws, emits one metric per metric in, leaves untouched bytes as they came, and never says
 * verified=true for a reading its device's key did not sign.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Plug } from '../../sim/plug';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';
import { inProcessPipeline } from '../harness/pipeline';
import { decodeLine } from '../../core/lineprotocol/decode';

const plugs = [
  new Plug({ name: 'p0', energyRes: 3 }, 'prop'),
  new Plug({ name: 'p1', energyRes: 1, phases: 3 }, 'prop'),
  new Plug({ name: 'p2', energyRes: 0 }, 'prop'),
];
const signed = new Map<string, Set<string>>(plugs.map((p) => [p.name, new Set()]));
const T0 = Date.UTC(2025, 0, 1);
const genuine: string[] = [];
plugs.forEach((p) => {
  for (let i = 0; i < 20; i++) {
    p.consume(777);
    const r = p.read(new Date(T0 + i * 60_000));
    signed.get(p.name)!.add(r.message);
    genuine.push(telegrafLine(r.topic, r.payload, BigInt(i), { mode: i % 3 ? 'json' : 'value', topicTags: '_/device/_' }));
  }
});
const pipeline = inProcessPipeline(Object.fromEntries(plugs.map((p) => [p.name, p.publicKeyHex])));

const RESERVED = ['verified', 'verify_status', 'signed_message'];
const PLACEHOLDER = 'meterproof_dropped_reserved';

/** Removes exactly what the processor may add; what remains must be the input line. */
const strip = (line: string) =>
  line.replace(/,verified=(true|false),verify_status=[a-z_]+/, '').replace(/,signed_message="(?:[^"\\]|\\.)*"/, '');

function checkRun(input: Uint8Array, chunk?: number): void {
  for (const { input: inp, output } of pipeline.run(input, chunk).pairs) {
    // One metric out per metric in: exactly one newline-terminated line.
    expect(output[output.length - 1]).toBe(0x0a);
    const out = output.subarray(0, -1);
    const inMetric = decodeLine(inp, 0, inp.length);
    if ('error' in inMetric) {
      expect(out.equals(inp)).toBe(true); // passed through untouched
      continue;
    }
    const m = decodeLine(out, 0, out.length);
    if ('error' in m) throw new Error(`output is not line protocol (${m.error}): ${out.toString()}`);
    const tags = Object.fromEntries(m.tags);
    expect(['true', 'false']).toContain(tags.verified);
    // The verdict appears once, as tags, and never as a field InfluxQL could read instead.
    expect(m.tags.filter(([k]) => k === 'verified' || k === 'verify_status').length).toBe(2);
    expect(m.fields.filter(([k]) => k === 'verified' || k === 'verify_status')).toEqual([]);
    if (tags.verified !== 'true') expect(m.fields.filter(([k]) => k === 'signed_message')).toEqual([]);
    const reservedIn = [...inMetric.tags, ...inMetric.fields].some(([k]) => RESERVED.includes(k));
    if (reservedIn) {
      // Incoming verdict names are dropped, whatever they were; everything else stays.
      expect(m.tags.filter(([k]) => !RESERVED.includes(k))).toEqual(inMetric.tags.filter(([k]) => !RESERVED.includes(k)));
      const kept = inMetric.fields.filter(([k]) => !RESERVED.includes(k));
      const written = m.fields.filter(([k]) => !RESERVED.includes(k) && k !== PLACEHOLDER);
      if (!inMetric.fields.some(([k]) => k === 'value')) expect(written).toEqual(kept);
      if (kept.length === 0 && tags.verified !== 'true') expect(m.fields.map(([k]) => k)).toEqual([PLACEHOLDER]);
    } else if (!inMetric.fields.some(([k]) => k === 'value')) expect(strip(out.toString('latin1'))).toBe(inp.toString('latin1'));
    if (tags.verified === 'true') {
      const sm = m.fields.find(([k]) => k === 'signed_message')?.[1];
      const device = tags.device ?? tags.topic?.split('/')[1] ?? '';
      expect(sm && 'string' in sm && signed.get(device)?.has(sm.string)).toBe(true);
    }
  }
}

describe('pipeline properties', () => {
  it('random bytes: no throw, one out per in, untouched bytes unchanged', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 1, max: 64 }), (bytes, chunk) => checkRun(bytes, chunk)),
      { numRuns: 1500 },
    );
  });

  it('random line-protocol-ish text', () => {
    const token = fc.constantFrom(
      'm',
      'mqtt_consumer',
      ',',
      '=',
      ' ',
      '"',
      '\\',
      '\n',
      'device',
      'topic',
      'tele/p0/SENSOR',
      'Signature',
      'Time',
      'ENERGY_Total',
      'ENERGY_Total_0',
      'value',
      '1.5',
      '1i',
      't',
      '2025-01-01T00:00:00',
      'signed_message',
      'verified',
      'verify_status',
      ',verified=true',
      ',verify_status=ok',
      'signed_message="x"',
      '\u00e9',
      '\r',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (tokens) => checkRun(Buffer.from(tokens.join('')))),
      { numRuns: 1500 },
    );
  });

  it('mutated genuine readings are never verified unless the device signed exactly that', () => {
    const mutation = fc.record({
      line: fc.integer({ min: 0, max: genuine.length - 1 }),
      at: fc.nat(),
      op: fc.constantFrom('flip', 'insert', 'delete', 'dup', 'swap-device', 'reserved'),
      reserved: fc.constantFrom(
        ',verified=true',
        ',verify_status=ok',
        ',signed_message="2025-01-01T00:00:00,1.000"',
        ',verified=true,verify_status=ok',
      ),
      byte: fc.integer({ min: 0, max: 255 }),
      len: fc.integer({ min: 1, max: 12 }),
    });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), (muts) => {
        const lines = muts.map((m) => {
          const b = Buffer.from(genuine[m.line]!);
          const at = m.at % b.length;
          switch (m.op) {
            case 'flip':
              b[at] = m.byte;
              return b;
            case 'insert':
              return Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
            case 'delete':
              return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + m.len))]);
            case 'dup':
              return Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
            case 'reserved': {
              // A verdict's name among the tags (after the topic tag) or the fields (after the first space).
              const text = b.toString('latin1');
              const where = m.at % 2 ? text.indexOf(',topic=') + 1 : text.indexOf(' ') + 1;
              const insert = m.at % 2 ? m.reserved.slice(1) + ',' : m.reserved.slice(1).replace(/=true/, '=T') + ',';
              return Buffer.from(text.slice(0, where) + insert + text.slice(where), 'latin1');
            }
            default:
              return Buffer.from(
                b.toString().replace(/device=p\d|tele\/p\d/g, (s) => s.replace(/\d$/, String((Number(s.slice(-1)) + 1) % 3))),
              );
          }
        });
        checkRun(Buffer.concat(lines));
      }),
      { numRuns: 1500 },
    );
  });
});
