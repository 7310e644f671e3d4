/**
 * How the cases in this folder were made; no test runs it. It writes each case's keys.json, input.lp,
 * args and README.md from the emulated plug (sim/plug.ts, fixed seed and clock) and the Telegraf
 * stand-in (test/harness/telegraf-mqtt-consumer.ts). From the repository root:
 *
 *   npx esbuild test/cases/generate.ts --bundle --platform=node --outfile=/tmp/generate-cases.cjs && node /tmp/generate-cases.cjs
 *
 * expected.lp is what the built processor wrote for input.lp, saved only after its verified and
 * verify_status tags were checked by hand against the case's name:
 *
 *   for d in test/cases/*; do [ -d "$d" ] || continue
 *     node dist/processor.js --summary-interval 0 --keys "$d/keys.json" $(cat "$d/args" 2>/dev/null) < "$d/input.lp" > "$d/expected.lp"
 *   done
 *
 * A new case needs no code: a folder with the same files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sign } from 'node:crypto';
import { deviceKey, Plug, tasmotaTime, type PlugSpec } from '../../sim/plug';
import { telegrafLine, type ConsumerOptions } from '../harness/telegraf-mqtt-consumer';

const SEED = 'cases';
const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);
const at = (minute: number) => new Date(T0 + minute * 60_000);
/** Telegraf's arrival time: a quarter second after the plug's reading. */
const arrival = (minute: number) => BigInt(T0 + minute * 60_000 + 250) * 1_000_000n;
const JSON_V1: ConsumerOptions = { mode: 'json', topicTags: '_/device/_' };
const plug = (spec: PlugSpec) => new Plug(spec, SEED);

interface Case {
  readme: string;
  /** The key file: as JSON, or as exact text where the bytes matter (a BOM, a repeated name). */
  keys: Record<string, string> | string;
  lines: string[];
  args?: string[];
}

function reading(p: Plug, minute: number, opts: ConsumerOptions = JSON_V1, edit = (payload: string) => payload): string {
  p.consume(2_500);
  const r = p.read(at(minute));
  return telegrafLine(r.topic, edit(r.payload), arrival(minute), opts);
}

/** A reading the plug `name` signs over any Total text (e.g. phases that move apart), in the firmware's shape. */
function signedPayload(name: string, minute: number, totalText: string, extra = ''): { topic: string; payload: string; key: string } {
  const { privateKey, publicKeyHex } = deviceKey(SEED, name);
  const time = tasmotaTime(at(minute));
  const signature = sign(null, Buffer.from(`${time},${totalText}`), privateKey).toString('hex');
  const payload = `{"Time":"${time}","Signature":"${signature}",${extra}"ENERGY":{"Total":${totalText},"Power":42}}`;
  return { topic: `tele/${name}/SENSOR`, payload, key: publicKeyHex };
}
const VALUE: ConsumerOptions = { ...JSON_V1, mode: 'value' };
/** The identity point: a small-order "key" that key admission refuses. */
const IDENTITY_KEY = `01${'00'.repeat(31)}`;

const cases: Record<string, () => Case> = {
  'ok-json-float-total': () => {
    const p = plug({ name: 'kitchen', energyRes: 3, startMicroKwh: 147_500 });
    return {
      readme: 'json v1 turns the signed Total 1.500 into the float 1.5; the processor finds the printed text again and verifies it: ok.',
      keys: { kitchen: p.publicKeyHex },
      lines: [reading(p, 0)],
    };
  },
  'ok-exact-value-payload': () => {
    const p = plug({ name: 'boiler', energyRes: 4 });
    const lines = [reading(p, 0, { ...JSON_V1, mode: 'value' })];
    return {
      readme:
        'Exact mode: data_format = "value" (data_type = "string") hands over the raw payload in `value`; the exact signed text verifies (ok) and the payload fields are added as json v1 would name them.',
      keys: { boiler: p.publicKeyHex },
      lines,
      args: ['--payload-field', 'value'],
    };
  },
  'bad-signature': () => {
    const p = plug({ name: 'meddled', energyRes: 3 });
    const line = reading(p, 0, JSON_V1, (payload) => payload.replace('"Total":1.525', '"Total":1.425'));
    return {
      readme: 'The Total was edited after signing (1.525 to 1.425): bad_signature.',
      keys: { meddled: p.publicKeyHex },
      lines: [line],
    };
  },
  'unknown-device': () => {
    const known = plug({ name: 'kitchen', energyRes: 3 });
    const stranger = plug({ name: 'garage', energyRes: 3 });
    return {
      readme: 'A genuinely signed reading from a device that has no key in keys.json: unknown_device.',
      keys: { kitchen: known.publicKeyHex },
      lines: [reading(stranger, 0)],
    };
  },
  unsigned: () => {
    const p = plug({ name: 'old-firmware', energyRes: 3 });
    const line = reading(p, 0, JSON_V1, (payload) => payload.replace(/"Signature":"[0-9a-f]+",/, ''));
    const cpu = `cpu,cpu=cpu-total,host=telegraf-host usage_idle=97.5,usage_user=1.25 ${arrival(0) + 1n}\n`;
    return {
      readme: 'A plug whose firmware does not sign (no Signature), and a metric that is no meter reading at all: both unsigned.',
      keys: { 'old-firmware': p.publicKeyHex },
      lines: [line, cpu],
    };
  },
  malformed: () => {
    const p = plug({ name: 'truncated', energyRes: 3 });
    const line = reading(p, 0, JSON_V1, (payload) => payload.replace(/("Signature":"[0-9a-f]{126})[0-9a-f]{2}"/, '$1"'));
    return { readme: 'A Signature of 126 hex digits instead of 128: malformed.', keys: { truncated: p.publicKeyHex }, lines: [line] };
  },
  replay: () => {
    const p = plug({ name: 'office-desk', energyRes: 3 });
    p.consume(2_500);
    const r = p.read(at(0));
    const lines = [telegrafLine(r.topic, r.payload, arrival(0), JSON_V1), telegrafLine(r.topic, r.payload, arrival(5), JSON_V1)];
    return {
      readme: 'The same signed reading arrives again five minutes later: the first is ok, the second replay.',
      keys: { 'office-desk': p.publicKeyHex },
      lines,
    };
  },
  rollback: () => {
    const p = plug({ name: 'cloned', energyRes: 3 });
    const first = reading(p, 0);
    const r = p.read(at(1), -10_000); // signed by the plug itself, 0.100 kWh below its counter
    return {
      readme: 'A newer reading, genuinely signed, whose Total went down (1.525 then 1.425): the first is ok, the second rollback.',
      keys: { cloned: p.publicKeyHex },
      lines: [first, telegrafLine(r.topic, r.payload, arrival(1), JSON_V1)],
    };
  },
  'three-phase-meter': () => {
    const p = plug({ name: 'workshop', energyRes: 3, phases: 3 });
    return {
      readme: 'A three-phase meter (SetOption129) signs Total as [a,b,c]; json v1 flattens it to ENERGY_Total_0..2 and it verifies: ok.',
      keys: { workshop: p.publicKeyHex },
      lines: [reading(p, 0), reading(p, 1)],
    };
  },
  'exact-smuggled-control-key': () => {
    const p = plug({ name: 'smuggled', energyRes: 3 });
    // "Total\u0001" would be written as ENERGY_Total once escaping drops the control character.
    const line = reading(p, 0, VALUE, (payload) => payload.replace('"ENERGY":{', '"ENERGY":{"Total\\u0001":99,'));
    return {
      readme: 'A genuine signed payload with an extra key "Total\\u0001" that escaping would turn into a second ENERGY_Total: malformed, and the key is never written.',
      keys: { smuggled: p.publicKeyHex },
      lines: [line],
    };
  },
  'exact-smuggled-backslash-key': () => {
    const p = plug({ name: 'smuggled', energyRes: 3 });
    const line = reading(p, 0, VALUE, (payload) => payload.replace('"ENERGY":{', '"ENERGY":{"Total\\\\":99,'));
    return {
      readme: 'A genuine signed payload with an extra key "Total\\" whose trailing backslash escaping would trim: malformed, never written.',
      keys: { smuggled: p.publicKeyHex },
      lines: [line],
    };
  },
  'exact-unsigned-reserved-key': () => {
    const line = telegrafLine('tele/intruder/SENSOR', '{"verified\\\\":1,"verify_status":2,"ENERGY":{"Total":5}}', arrival(0), VALUE);
    return {
      readme: 'An unsigned payload with keys "verified\\" and "verify_status": unsigned, and neither becomes a field that would shadow the tags in InfluxQL.',
      keys: {},
      lines: [line],
    };
  },
  'exact-line-total-disagrees': () => {
    const p = plug({ name: 'doubled', energyRes: 3 });
    const line = reading(p, 0, VALUE).replace(' value=', ' ENERGY_Total=99,value=');
    return {
      readme: 'The line carries its own ENERGY_Total=99 beside a genuine exact-mode payload: malformed, since the row would store an unsigned value under a signed name.',
      keys: { doubled: p.publicKeyHex },
      lines: [line],
    };
  },
  'exact-booleans-not-expanded': () => {
    const s = signedPayload('switch', 0, '2.500', '"POWER":true,"Mode":"eco",');
    return {
      readme: 'Exact mode expands the payload as json v1 does: the boolean POWER and the string Mode are not written (json_string_fields lists only Signature and Time); ok.',
      keys: { switch: s.key },
      lines: [telegrafLine(s.topic, s.payload, arrival(0), VALUE)],
    };
  },
  'reserved-names-dropped': () => {
    const p = plug({ name: 'kitchen', energyRes: 3 });
    const genuine = reading(p, 0).replace('topic=tele/kitchen/SENSOR', 'topic=tele/kitchen/SENSOR,verified=true');
    const forged = `cpu,host=telegraf-host,verify_status=ok usage=1,signed_message="2025-06-01T12:00:00,9.999" ${arrival(1)}\n`;
    const only = `cpu,host=telegraf-host verified=true ${arrival(2)}\n`;
    return {
      readme:
        'Incoming verified/verify_status tags and signed_message/verified fields are dropped from every metric; a metric left with no field gets meterproof_dropped_reserved=true.',
      keys: { kitchen: p.publicKeyHex },
      lines: [genuine, forged, only],
    };
  },
  'device-name-with-bom': () => {
    const p = plug({ name: 'kitchen', energyRes: 3 });
    p.consume(2_500);
    const r = p.read(at(0));
    const lookAlike = telegrafLine('tele/\uFEFFkitchen/SENSOR', r.payload, arrival(0), JSON_V1);
    return {
      readme:
        'A look-alike device name with a leading U+FEFF pre-sends the plug\'s public reading: it is another device (unknown_device), so the real reading that follows is ok, not replay.',
      keys: { kitchen: p.publicKeyHex },
      lines: [lookAlike, telegrafLine(r.topic, r.payload, arrival(1), JSON_V1)],
    };
  },
  'time-with-bom': () => {
    const p = plug({ name: 'kitchen', energyRes: 3 });
    const line = reading(p, 0, JSON_V1, (payload) => payload.replace('"Time":"', '"Time":"\uFEFF'));
    return {
      readme: 'A Time whose first 19 characters are not a date because of a leading U+FEFF: malformed.',
      keys: { kitchen: p.publicKeyHex },
      lines: [line],
    };
  },
  'rollback-one-phase': () => {
    const a = signedPayload('workshop', 0, '[1.000,2.000,3.000]');
    const b = signedPayload('workshop', 1, '[1.100,2.100,2.900]');
    return {
      readme: 'Three phases; the third goes down while the first, second and the sum go up: ok, then rollback.',
      keys: { workshop: a.key },
      lines: [telegrafLine(a.topic, a.payload, arrival(0), JSON_V1), telegrafLine(b.topic, b.payload, arrival(1), JSON_V1)],
    };
  },
  'rollback-phase-count-change': () => {
    const lines = [
      signedPayload('switching', 0, '[1.000,2.000,3.000]'),
      signedPayload('switching', 1, '5.500'), // SetOption129 off: the sum, lower than 6.000
      signedPayload('switching', 2, '6.500'),
      signedPayload('switching', 3, '[2.000,2.000,3.000]'),
      signedPayload('switching', 4, '[1.000,2.000]'),
    ].map((s, i) => telegrafLine(s.topic, s.payload, arrival(i), JSON_V1));
    return {
      readme:
        'The phase count changes (array to scalar and back, 3 to 2): readings are compared by the sum of their phases. ok, rollback (5.5 < 6), ok, ok (7 > 6.5), rollback (3 < 7).',
      keys: { switching: deviceKey(SEED, 'switching').publicKeyHex },
      lines,
    };
  },
  'keys-repeated-device-last-refused': () => {
    const p = plug({ name: 'twice', energyRes: 3 });
    return {
      readme: 'keys.json names the device twice; the last entry (a small-order key) is refused, so the device has no key at all: unknown_device.',
      keys: `{\n  "twice": "${p.publicKeyHex}",\n  "twice": "${IDENTITY_KEY}"\n}\n`,
      lines: [reading(p, 0)],
    };
  },
  'keys-file-with-bom': () => {
    const p = plug({ name: 'bommed', energyRes: 3 });
    return {
      readme: 'A key file saved with a UTF-8 byte order mark is read: ok.',
      keys: `\uFEFF{ "bommed": "${p.publicKeyHex}" }\n`,
      lines: [reading(p, 0)],
    };
  },
  'uint-total': () => {
    const p = plug({ name: 'integer', energyRes: 0, startMicroKwh: 150_000_000 });
    const line = reading(p, 0).replace(/ENERGY_Total=(\d+)([ ,])/, 'ENERGY_Total=$1u$2');
    return {
      readme: 'EnergyRes 0 and a Total sent as an unsigned integer field (1500u, as Telegraf writes uints where the output takes them): read like 1500i, ok.',
      keys: { integer: p.publicKeyHex },
      lines: [line],
    };
  },
  'early-firmware-braced-signature': () => {
    // Builds before 2023-02-10 print "Signature": {<hex>}; some add the text they signed.
    const brace = (payload: string) => payload.replace(/"Signature":"([0-9a-f]{128})"/, '"Signature": {$1}');
    const a = signedPayload('early', 0, '0.250');
    const b = signedPayload('early', 1, '0.300');
    const c = signedPayload('early', 2, '0.350');
    const withText = brace(b.payload).replace('{"Time"', `{"Calculating signature on":"${tasmotaTime(at(1))},0.300","Time"`);
    const tampered = brace(c.payload).replace('"Total":0.350', '"Total":0.450');
    return {
      readme:
        'Early firmware (before 2023-02-10) braces the signature, "Signature": {<hex>}, which is not JSON; in exact mode it still verifies (ok, ok with the extra "Calculating signature on" field), and a tampered one does not (bad_signature).',
      keys: { early: a.key },
      lines: [brace(a.payload), withText, tampered].map((payload, i) => telegrafLine(a.topic, payload, arrival(i), VALUE)),
    };
  },
};

for (const [name, make] of Object.entries(cases)) {
  const c = make();
  const dir = join('test', 'cases', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'README.md'), `${c.readme}\n`);
  writeFileSync(join(dir, 'keys.json'), typeof c.keys === 'string' ? c.keys : `${JSON.stringify(c.keys, null, 2)}\n`);
  writeFileSync(join(dir, 'input.lp'), c.lines.join(''));
  if (c.args) writeFileSync(join(dir, 'args'), `${c.args.join('\n')}\n`);
}
