/**
 * `npm run bench`: one generated stream (10 devices × 20,000 readings, EnergyRes 3, 2 % tampered),
 * every figure against a baseline measured in the same run, since these machines are noisy:
 *  (a) raw Ed25519 verify rate of the crypto in use: per core, and all cores at once;
 *  (b) the processor end to end through pipes, as Telegraf drives it (median of 3);
 *  (c) the reference validator's loop (json-parse, f"{Time},{Total}", PyNaCl verify), if available.
 * Plus start-up to first output, p99 latency of a lone metric at 1,000 metrics/s, and peak RSS with
 * 100,000 registered devices.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadVerifier } from '../processor/crypto/verifier';
import { deviceKey } from '../sim/plug';
import { cores, hasTaskset } from './cores';
import { cleanEnv, LATENCY_METRICS, LATENCY_WARMUP, latencyProbe, runProcessor, timeToFirstOutput, type Run } from './processor-runs';
import { rawRateChild, rawRates } from './raw';
import { referenceAvailable, referenceLoop } from './reference';
import { benchStream } from './stream';

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
  };
}

async function median3(run: () => Promise<Run>, expectLines: number): Promise<Run & { rate: number }> {
  const runs: (Run & { rate: number })[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await run();
    if (r.lines !== expectLines) throw new Error(`processor emitted ${r.lines} of ${expectLines} metrics`);
    runs.push({ ...r, rate: r.lines / r.seconds });
  }
  return runs.sort((x, y) => x.rate - y.rate)[1]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meterproof-bench-'));
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const crypto = loadVerifier();
  const input = writeInputs(dir);
  console.log(`meterproof bench: ${f(input.metrics)} metrics (10 devices × 20,000, EnergyRes 3, 2 % tampered), crypto ${crypto.name}, ${cores} cores` +
    `${hasTaskset ? '' : ' (taskset missing: single-core baselines are unpinned)'}\n`);

  const a = await rawRates(__filename, crypto.name === 'libsodium' ? 'sodium' : 'node', input.payloads, input.keys);
  const aNode = await rawRates(__filename, 'node', input.payloads, input.keys);
  const fastest = a.perCore.indexOf(Math.max(...a.perCore));
  const aBest = a.perCore[fastest]!;
  const b1 = await median3(() => runProcessor(PROCESSOR, ['--keys', input.keys, '--workers', '0'], input.input), input.metrics);
  const b2 = await median3(() => runProcessor(PROCESSOR, ['--keys', input.keys], input.input), input.metrics);
  const c = referenceAvailable() ? await referenceLoop(fastest, input.keys, input.payloads, input.genuine) : undefined;
  const probe = spawnSync(process.execPath, [__filename, '--latency-probe', input.latency, input.keys], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`latency probe failed: ${probe.stderr}`);
  const lat = JSON.parse(probe.stdout) as { p50: number; p99: number };
  const oneMetric = readFileSync(input.latency, 'utf8').split(/(?<=\n)/)[0]!;
  const start = await timeToFirstOutput([PROCESSOR, '--keys', input.keys, '--summary-interval', '0'], cleanEnv(), oneMetric);
  const bare = await timeToFirstOutput(['-e', 'process.stdout.write("x\\n")'], cleanEnv());
  const bareHere = process.env.NODE_EXTRA_CA_CERTS ? await timeToFirstOutput(['-e', 'process.stdout.write("x\\n")'], process.env) : undefined;
  const rss1 = (await runProcessor(PROCESSOR, ['--keys', input.manyKeys, '--workers', '0'], input.head)).peakRssMb;
  const rss2 = (await runProcessor(PROCESSOR, ['--keys', input.manyKeys], input.head)).peakRssMb;

  const perCore = (r: { perCore: number[] }) => r.perCore.map((x) => f(x)).join(' / ');
  const rows: [string, string][] = [
    [`(a) raw verify, ${crypto.name}, each core alone`, `${perCore(a)} /s`],
    [`    raw verify, ${crypto.name}, all ${cores} cores at once`, `${f(a.together)} /s`],
    ['    raw verify, node:crypto, each core alone', `${perCore(aNode)} /s`],
    ['(b1) processor, 1 thread (--workers 0)', `${f(b1.rate)} metrics/s   b1/a = ${f(b1.rate / aBest, 2)} of the fastest core`],
    [`(b2) processor, default (main + ${cores - 1} worker)`, `${f(b2.rate)} metrics/s   b2/a = ${f(b2.rate / a.together, 2)} of all ${cores} cores at once`],
    [`(c) reference validator loop (PyNaCl), fastest core`, c ? `${f(c.rate)} /s   b1/c = ${f(b1.rate / c.rate, 2)}, b2/c = ${f(b2.rate / c.rate, 2)}` : 'python3-nacl not installed (apt-get install python3-nacl)'],
    ['    reference validator: genuine readings rejected', c ? `${f(c.rejectedGenuine * 100, 2)} % (meterproof: 0 %)` : 'n/a'],
    ['start-up to first output (median of 5)', `${f(start, 1)} ms (bare node: ${f(bare, 1)} ms, ratio ${f(start / bare, 2)})`],
    ...(bareHere === undefined ? [] : [['    bare node with this shell\'s NODE_EXTRA_CA_CERTS', `${f(bareHere, 1)} ms (not passed to the processor: Telegraf's environment has no reason to set it)`] as [string, string]]),
    [`lone-metric latency at 1,000/s, p50 / p99 (after ${LATENCY_WARMUP} warm-up)`, `${f(lat.p50, 2)} / ${f(lat.p99, 2)} ms`],
    ['peak RSS, 200,000-metric run (1 thread / default)', `${f(b1.peakRssMb, 1)} / ${f(b2.peakRssMb, 1)} MB`],
    ['peak RSS, 100,000 registered devices (1 thread / default)', `${f(rss1, 1)} / ${f(rss2, 1)} MB`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  rmSync(dir, { recursive: true, force: true });
}

const [, , mode, ...rest] = process.argv;
if (mode === '--latency-probe') void latencyProbe(PROCESSOR, rest[0]!, rest[1]!);
else if (mode === '--raw') rawRateChild(rest[0] as 'sodium' | 'node', rest[1]!, rest[2]!);
else void main();
