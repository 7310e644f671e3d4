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
import { Plug, type PlugSpec } from '../../sim/plug';
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
  keys: Record<string, string>;
  lines: string[];
  args?: string[];
}

function reading(p: Plug, minute: number, opts: ConsumerOptions = JSON_V1, edit = (payload: string) => payload): string {
  p.consume(2_500);
  const r = p.read(at(minute));
  return telegrafLine(r.topic, edit(r.payload), arrival(minute), opts);
}

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
};

for (const [name, make] of Object.entries(cases)) {
  const c = make();
  const dir = join('test', 'cases', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'README.md'), `${c.readme}\n`);
  writeFileSync(join(dir, 'keys.json'), `${JSON.stringify(c.keys, null, 2)}\n`);
  writeFileSync(join(dir, 'input.lp'), c.lines.join(''));
  if (c.args) writeFileSync(join(dir, 'args'), `${c.args.join('\n')}\n`);
}
