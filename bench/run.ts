/**
 * `npm run bench`: one generated stream (10 devices × 20,000 readings, EnergyRes 3, 2 % tampered),
 * every figure against a baseline measured in the same run, since these machines are noisy:
 *  (a) raw Ed25519 verify rate of the crypto in use: per core, and all cores at once;
 *  (b) the processor end to end through pipes, as Telegraf drives it: b1 on one core, b2 by default.
 *      Judged on the steady rate, past the first 10 % of the output, because (a) and (c) time their
 *      loops without their start-ups too; the whole run from spawn to exit is printed beside it;
 *  (c) the reference validator's loop (json-parse, f"{Time},{Total}", PyNaCl verify), if available.
 * A machine's speed drifts over seconds (and its cores differ), so the run is three rounds, and each
 * throughput is divided by a baseline measured right before and right after it, on the same cores:
 * b1 and c on the round's fastest core, b2 against all cores at once. Ratios are medians of rounds;
 * b/c compares the two at one machine state (see `round`).
 * Plus start-up to first output, p99 latency of a lone metric at 1,000 metrics/s, and peak RSS with
 * 100,000 registered devices.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadVerifier } from '../core/node/verifier';
import { deviceKey } from '../sim/plug';
import { cores, hasTaskset } from './cores';
import { NODE_FLAGS } from '../processor/launch-flags';
import {
  cleanEnv,
  LATENCY_METRICS,
  LATENCY_WARMUP,
  latencyProbe,
  runProcessor,
  STEADY_AFTER,
  timeToFirstOutput,
  type Pacing,
} from './processor-runs';
import { rawAllCores, rawOnCore, rawRateChild, type RawBaseline } from './raw';
import { referenceAvailable, referenceLoop } from './reference';
import { attackStreams } from './attack';
import { benchStream } from './stream';
import { redisAvailable, redisVersusFile, type RedisFigures } from './redis';
import { statementBench, statementOnly } from './statement';
import { grafanaBench, recheckInChromium } from './grafana';

const PROCESSOR = join(__dirname, 'processor.js');

function writeInputs(dir: string) {
  const stream = benchStream();
  const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
  const many: Record<string, string> = {};
  for (let i = 0; i < 100_000; i++) many[`dev-${i}`] = deviceKey('bench-many', `dev-${i}`).publicKeyHex;
  return {
    metrics: stream.lines.length,
    genuine: stream.payloads.length * 0.98,
    keys: file('keys.json', JSON.stringify(stream.keys)),
    input: file('input.lp', stream.lines.join('')),
    head: file('head.lp', stream.lines.slice(0, 20_000).join('')),
    latency: file('latency.lp', stream.lines.slice(0, LATENCY_METRICS + 1).join('')),
    payloads: file('payloads.jsonl', stream.payloads.map((p) => JSON.stringify(p)).join('\n')),
    manyKeys: file('keys-100k.json', JSON.stringify({ ...many, ...stream.keys })),
    attack: (() => {
      const a = attackStreams();
      return {
        metrics: a.metrics,
        keys: file('attack-keys.json', JSON.stringify(a.keys)),
        genuine: file('attack-genuine.lp', a.genuine),
        tampered: file('attack-tampered.lp', a.tampered),
      };
    })(),
  };
}

const ROUNDS = 3;
const BASELINE_SECONDS = 2;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** b1 and b2 are steady rates (see `Run`); the *Whole figures count from spawn to exit. */
interface Round {
  perCore: number[];
  b1: number;
  b1OverA: number;
  b1WholeOverA: number;
  b2: number;
  b2OverA: number;
  b2WholeOverA: number;
  rss1: number;
  rss2: number;
  c?: number;
  b2OverC?: number;
  b1OverC?: number;
  b2OverCDirect?: number;
  genuineRejected?: number;
}

/**
 * One round. b2 and c run about 20 s apart, long enough for the machine's speed to drift, so b2/c
 * compares them at one machine state: each as its share of its own baseline (b2 of all cores, c of
 * the fastest core, both measured around it), scaled by the two baselines of one moment.
 */
async function round(input: ReturnType<typeof writeInputs>, base: RawBaseline, withReference: boolean): Promise<Round> {
  const perCore: number[] = [];
  for (let c = 0; c < cores; c++) perCore.push(await rawOnCore(base, c, BASELINE_SECONDS));
  const fastest = perCore.indexOf(Math.max(...perCore));
  const throughput = async (args: string[], core?: number) => {
    const r = await runProcessor(PROCESSOR, ['--keys', input.keys, ...args], input.input, core);
    if (r.lines !== input.metrics) throw new Error(`processor emitted ${r.lines} of ${input.metrics} metrics`);
    if (r.steadyRate === undefined)
      throw new Error(`no sample of the output past its first ${STEADY_AFTER * 100} %: cannot measure the steady rate`);
    return { ...r, steadyRate: r.steadyRate };
  };
  const allBefore = await rawAllCores(base, BASELINE_SECONDS);
  const b2 = await throughput([]);
  const allAfter = await rawAllCores(base, BASELINE_SECONDS);
  const ref = withReference ? await referenceLoop(fastest, input.keys, input.payloads, input.genuine) : undefined;
  const oneBefore = await rawOnCore(base, fastest, BASELINE_SECONDS);
  const b1 = await throughput(['--workers', '0'], fastest);
  const oneAfter = await rawOnCore(base, fastest, BASELINE_SECONDS);
  const allCores = (allBefore.total + allAfter.total) / 2,
    oneCore = (oneBefore + oneAfter) / 2;
  const b2OverA = b2.steadyRate / allCores,
    b1OverA = b1.steadyRate / oneCore;
  const reference =
    ref &&
    (() => {
      const cOverA = ref.rate / ((allAfter.perCore[fastest]! + oneBefore) / 2);
      return {
        c: ref.rate,
        genuineRejected: ref.rejectedGenuine,
        b2OverCDirect: b2.steadyRate / ref.rate,
        b2OverC: (b2OverA * allAfter.total) / (cOverA * allAfter.perCore[fastest]!),
        b1OverC: b1OverA / cOverA,
      };
    })();
  return {
    perCore,
    b1: b1.steadyRate,
    b1OverA,
    b1WholeOverA: b1.wholeRate / oneCore,
    b2: b2.steadyRate,
    b2OverA,
    b2WholeOverA: b2.wholeRate / allCores,
    rss1: b1.peakRssMb,
    rss2: b2.peakRssMb,
    ...reference,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meterproof-bench-'));
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const crypto = loadVerifier();
  const input = writeInputs(dir);
  console.log(
    `meterproof bench: ${f(input.metrics)} metrics (10 devices × 20,000, EnergyRes 3, 2 % tampered), crypto ${crypto.name}, ${cores} cores` +
      `${hasTaskset ? '' : ' (taskset missing: single-core runs are unpinned)'}, ${ROUNDS} rounds\n`,
  );
  const base: RawBaseline = {
    script: __filename,
    backend: crypto.name === 'libsodium' ? 'sodium' : 'node',
    payloads: input.payloads,
    keys: input.keys,
  };
  const withReference = referenceAvailable();
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await round(input, base, withReference));
  const nodeRaw = await rawOnCore({ ...base, backend: 'node' }, 0, BASELINE_SECONDS);
  const sodiumRaw = await rawOnCore(base, 0, BASELINE_SECONDS);
  const probe = spawnSync(process.execPath, [__filename, '--latency-probe', input.latency, input.keys, 'stream'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`latency probe failed: ${probe.stderr}`);
  const lat = JSON.parse(probe.stdout) as { p50: number; p99: number };
  const oneMetric = readFileSync(input.latency, 'utf8').split(/(?<=\n)/)[0]!;
  const start = await timeToFirstOutput([...NODE_FLAGS, PROCESSOR, '--keys', input.keys, '--summary-interval', '0'], cleanEnv(), oneMetric);
  const bare = await timeToFirstOutput(['-e', 'process.stdout.write("x\\n")'], cleanEnv());
  const bareHere = process.env.NODE_EXTRA_CA_CERTS
    ? await timeToFirstOutput(['-e', 'process.stdout.write("x\\n")'], process.env)
    : undefined;
  const flood = await tamperedFlood(input.attack);
  const many1 = (await runProcessor(PROCESSOR, ['--keys', input.manyKeys, '--workers', '0'], input.head)).peakRssMb;
  const many2 = (await runProcessor(PROCESSOR, ['--keys', input.manyKeys], input.head)).peakRssMb;
  const redis = redisAvailable() ? await redisVersusFile(PROCESSOR, __filename, dir, input, ROUNDS) : undefined;

  const m = (k: keyof Round) => median(rounds.map((r) => r[k] as number));
  const each = (k: keyof Round, d = 2) => rounds.map((r) => f(r[k] as number, d)).join(', ');
  const rows: [string, string][] = [
    [`(a) raw verify, ${crypto.name}, each core alone`, rounds.map((r) => r.perCore.map((x) => f(x)).join(' / ')).join(';  ') + ' /s'],
    [`    node:crypto / ${crypto.name} on core 0, back to back`, `${f(nodeRaw)} / ${f(sodiumRaw)} /s`],
    [
      '(b1) processor on one core (--workers 0, pinned)',
      `${f(m('b1'))} metrics/s steady   b1/a = ${f(m('b1OverA'), 2)}  (rounds: ${each('b1OverA')})`,
    ],
    ['     the same, whole run incl. start-up and warm-up', `b1/a = ${f(m('b1WholeOverA'), 2)}  (rounds: ${each('b1WholeOverA')})`],
    [
      `(b2) processor, default (main + ${cores - 1} worker)`,
      `${f(m('b2'))} metrics/s steady   b2/a = ${f(m('b2OverA'), 2)} of all ${cores} cores at once  (rounds: ${each('b2OverA')})`,
    ],
    ['     the same, whole run incl. start-up and warm-up', `b2/a = ${f(m('b2WholeOverA'), 2)}  (rounds: ${each('b2WholeOverA')})`],
    [
      '(c) reference validator loop (PyNaCl), fastest core',
      withReference
        ? `${f(m('c'))} /s   b1/c = ${f(m('b1OverC'), 2)}, b2/c = ${f(m('b2OverC'), 2)} at one machine state  (rounds: ${each('b2OverC')}; plain quotients of the two rates: ${each('b2OverCDirect')})`
        : 'python3-nacl not installed (apt-get install python3-nacl)',
    ],
    [
      '    reference validator: genuine readings rejected',
      withReference ? `${f(m('genuineRejected') * 100, 2)} % (meterproof: 0 %)` : 'n/a',
    ],
    ['start-up to first output (median of 5)', `${f(start, 1)} ms (bare node: ${f(bare, 1)} ms, ratio ${f(start / bare, 2)})`],
    ...(bareHere === undefined
      ? []
      : [
          [
            "    bare node with this shell's NODE_EXTRA_CA_CERTS",
            `${f(bareHere, 1)} ms (not passed to the processor: Telegraf's environment has no reason to set it)`,
          ] as [string, string],
        ]),
    [`lone-metric latency at 1,000/s, p50 / p99 (after ${LATENCY_WARMUP} warm-up)`, `${f(lat.p50, 2)} / ${f(lat.p99, 2)} ms`],
    [
      `(d) ${f(input.attack.metrics)} worst-case tampered vs genuine readings, default mode`,
      `genuine ${f(flood.genuine)} /s, tampered ${f(flood.tampered)} /s: genuine/tampered = ${f(flood.ratio, 2)}  (rounds: ${flood.rounds.map((r) => f(r, 2)).join(', ')}; target ≤ 2)`,
    ],
    ['peak RSS, 200,000-metric run (1 thread / default)', `${f(m('rss1'), 1)} / ${f(m('rss2'), 1)} MB`],
    ['peak RSS, 100,000 registered devices (1 thread / default)', `${f(many1, 1)} / ${f(many2, 1)} MB`],
    ...redisRows(redis, f),
  ];
  rows.push(...(await statementBench()));
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  rmSync(dir, { recursive: true, force: true });
  await grafanaBench();
}

function redisRows(r: RedisFigures | undefined, f: (n: number, d?: number) => string): [string, string][] {
  if (!r) return [['(e) --state redis:// vs --state FILE', 'redis-server not installed (apt-get install redis-server)']];
  return [
    [
      '(e) --state redis:// (loopback) vs --state FILE, default',
      `redis ${f(r.redis)} /s, file ${f(r.file)} /s: redis/file = ${f(r.ratio, 2)}  (rounds: ${r.rounds.map((x) => f(x, 2)).join(', ')}; target ≥ 0.8)`,
    ],
    [
      '    lone-metric latency (one in flight), p50 / p99',
      `redis ${f(r.lone.redis.p50, 2)} / ${f(r.lone.redis.p99, 2)} ms (target p99 < 10 ms); file ${f(r.lone.file.p50, 2)} / ${f(r.lone.file.p99, 2)} ms`,
    ],
    [
      '    at 1,000 metrics/s, p50 / p99',
      `redis ${f(r.stream.redis.p50, 2)} / ${f(r.stream.redis.p99, 2)} ms; file ${f(r.stream.file.p50, 2)} / ${f(r.stream.file.p99, 2)} ms`,
    ],
  ];
}

/** `bench.js --redis-only`: section (e) alone. */
async function redisOnly(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meterproof-bench-'));
  const input = writeInputs(dir);
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const r = redisAvailable() ? await redisVersusFile(PROCESSOR, __filename, dir, input, ROUNDS) : undefined;
  for (const [k, v] of redisRows(r, f)) console.log(`${k}  ${v}`);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * (d): the same readings genuine and tampered (integer Totals, the most renderings), alternately, three
 * times; each rate is the steady one, and the ratio of each adjacent pair is one round's figure.
 */
async function tamperedFlood(a: ReturnType<typeof writeInputs>['attack']) {
  const rate = async (file: string) => {
    const r = await runProcessor(PROCESSOR, ['--keys', a.keys], file);
    if (r.lines !== a.metrics) throw new Error(`processor emitted ${r.lines} of ${a.metrics} metrics`);
    if (r.steadyRate === undefined) throw new Error('no sample of the flood run past its start: cannot measure the steady rate');
    return r.steadyRate;
  };
  const rounds: number[] = [];
  const genuine: number[] = [];
  const tampered: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    genuine.push(await rate(a.genuine));
    tampered.push(await rate(a.tampered));
    rounds.push(genuine[r]! / tampered[r]!);
  }
  return { genuine: median(genuine), tampered: median(tampered), ratio: median(rounds), rounds };
}

const [, , mode, ...rest] = process.argv;
if (mode === '--latency-probe') void latencyProbe(PROCESSOR, rest[0]!, rest[1]!, rest[2] as Pacing, rest.slice(3));
else if (mode === '--statement') void statementOnly();
else if (mode === '--redis-only') void redisOnly();
else if (mode === '--raw') rawRateChild(rest[0] as 'sodium' | 'node', rest[1]!, rest[2]!, Number(rest[3]));
else if (mode === '--grafana')
  void grafanaBench(); // the Grafana part alone
else if (mode === '--grafana-recheck')
  recheckInChromium().forEach((l) => console.log(l)); // its re-check in Chromium alone
else if (mode === '--grafana-influx')
  void grafanaBench(rest[0] === '30d' ? '30d' : '200k'); // one InfluxDB size, no Chromium
else void main();
