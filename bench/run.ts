/**
 * `npm run bench`. Every figure is reported as a ratio to a baseline measured in the same run, since
 * these machines are noisy:
 *  (a) raw Ed25519 verify rate of the crypto in use, on the stream's own (message, signature, key);
 *  (b) the processor end to end through pipes, as Telegraf drives it;
 *  (c) the reference validator's loop (json-parse, f"{Time},{Total}", PyNaCl verify), if available.
 * Plus start-up to first output, p99 latency of a lone metric at 1,000 metrics/s, and peak RSS with
 * 100,000 registered devices.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parsePublicKey } from '../core/pubkey';
import { loadVerifier, opensslVerifier, type SignatureVerifier } from '../processor/crypto/verifier';
import { deviceKey } from '../sim/plug';
import { benchStream } from './stream';

const PROCESSOR = join(__dirname, 'processor.js');
const probe = process.argv[2] === '--latency-probe';
const dir = probe ? '' : mkdtempSync(join(tmpdir(), 'meterproof-bench-'));
const stream = probe ? { keys: {}, lines: [], payloads: [] } : benchStream();
const keysFile = join(dir, 'keys.json');
if (!probe) writeFileSync(keysFile, JSON.stringify(stream.keys));

function rawRate(v: SignatureVerifier, seconds = 3): number {
  const keys = new Map(Object.entries(stream.keys).map(([d, k]) => [d, parsePublicKey(k)]));
  const jobs = stream.payloads.slice(0, 20_000).map(({ device, payload }) => {
    const p = JSON.parse(payload) as { Time: string; Signature: string };
    const total = /"Total":([^,]+),/.exec(payload)![1]!;
    return { msg: Buffer.from(`${p.Time.slice(0, 19)},${total}`), sig: Buffer.from(p.Signature, 'hex'), key: keys.get(device)! };
  });
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) for (const j of jobs) (v.verify(j.sig, j.msg, j.key), n++);
  return n / ((performance.now() - start) / 1000);
}

function runProcessor(args: string[], input: string): Promise<{ seconds: number; lines: number; firstOutputMs: number; peakRssMb: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [PROCESSOR, '--summary-interval', '0', ...args], { stdio: ['pipe', 'pipe', 'ignore'] });
    let lines = 0, first = -1, peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, rssOf(child.pid!))), 20);
    child.stdout.on('data', (d: Buffer) => {
      if (first < 0) first = performance.now() - start;
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    });
    child.on('error', reject);
    child.on('exit', () => {
      clearInterval(sample);
      resolve({ seconds: (performance.now() - start) / 1000, lines, firstOutputMs: first, peakRssMb: peak });
    });
    child.stdin.end(input);
  });
}

/** VmHWM (peak resident set) of a live process, in MB. */
function rssOf(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Lone-metric latency at 1,000 metrics/s, after the first metric (start-up) has come back. Runs in a
 * small child process of its own: the benchmark's 200,000-metric heap would add its own GC pauses.
 */
async function latency(): Promise<{ p50: number; p99: number }> {
  const file = join(dir, 'latency.lp');
  writeFileSync(file, stream.lines.slice(0, LATENCY_METRICS + 1).join(''));
  const r = spawnSync(process.execPath, [__filename, '--latency-probe', file, keysFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`latency probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { p50: number; p99: number };
}

const LATENCY_METRICS = 3000;
const LATENCY_WARMUP = 300; // the first 0.3 s: the JIT compiles the hot path

async function latencyProbe(file: string, keys: string): Promise<void> {
  const lines = readFileSync(file, 'utf8').split(/(?<=\n)/);
  const child = spawn(process.execPath, [PROCESSOR, '--keys', keys, '--summary-interval', '0'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const sent: number[] = [];
  const lat: number[] = [];
  let firstOut!: () => void;
  const first = new Promise<void>((r) => (firstOut = r));
  child.stdout.on('data', (d: Buffer) => {
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) {
      lat.push(performance.now() - sent[lat.length]!);
      if (lat.length === 1) firstOut();
    }
  });
  sent.push(performance.now());
  child.stdin.write(lines[0]!);
  await first;
  const t0 = performance.now();
  for (let i = 1; i <= LATENCY_METRICS; i++) {
    while (performance.now() < t0 + i) await new Promise((r) => setImmediate(r)); // one metric every millisecond
    sent.push(performance.now());
    child.stdin.write(lines[i]!);
  }
  child.stdin.end();
  await new Promise((r) => child.on('exit', r));
  const sorted = lat.slice(1 + LATENCY_WARMUP).sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ p50: sorted[Math.floor(sorted.length * 0.5)], p99: sorted[Math.floor(sorted.length * 0.99)] }));
}

/** The floor under any start-up: a bare `node` printing one line (median of 5). */
async function bareNode(): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await new Promise<void>((r) => spawn(process.execPath, ['-e', 'process.stdout.write("x\\n")'], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout!.once('data', () => r()));
    runs.push(performance.now() - t);
  }
  return runs.sort((a, b) => a - b)[2]!;
}

async function startup(): Promise<number> {
  // Spawn to the first metric out, for a single metric written at once.
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) runs.push((await runProcessor(['--keys', keysFile], stream.lines[0]!)).firstOutputMs);
  return runs.sort((a, b) => a - b)[2]!;
}

function referenceLoop(): { rate: number; rejectedGenuine: number } | undefined {
  const py = '/usr/bin/python3';
  if (!existsSync(py) || spawnSync(py, ['-c', 'import nacl']).status !== 0) return undefined;
  const payloadFile = join(dir, 'payloads.jsonl');
  writeFileSync(payloadFile, stream.payloads.map((p) => JSON.stringify(p)).join('\n'));
  // The reference validator's logic (bc4p/SmartCryptometer-Validator), rewritten in a few lines.
  const script = `
import json, sys, time
from nacl.signing import VerifyKey
from nacl.exceptions import BadSignatureError
keys = {d: VerifyKey(bytes.fromhex(k)) for d, k in json.load(open(sys.argv[1])).items()}
rows = [json.loads(l) for l in open(sys.argv[2])]
ok = bad = 0
t = time.perf_counter()
for r in rows:
    p = json.loads(r["payload"])
    msg = f"{p['Time']},{p['ENERGY']['Total']}"
    try:
        keys[r["device"]].verify(msg.encode(), bytes.fromhex(p["Signature"])); ok += 1
    except BadSignatureError:
        bad += 1
print(json.dumps({"seconds": time.perf_counter() - t, "n": len(rows), "ok": ok, "bad": bad}))
`;
  const res = spawnSync(py, ['-c', script, keysFile, payloadFile], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (res.status !== 0) throw new Error(res.stderr);
  const r = JSON.parse(res.stdout) as { seconds: number; n: number; ok: number; bad: number };
  const genuine = stream.payloads.length * 0.98;
  return { rate: r.n / r.seconds, rejectedGenuine: 1 - r.ok / genuine };
}

async function manyDevices(workers: string[]): Promise<number> {
  const keys: Record<string, string> = {};
  for (let i = 0; i < 100_000; i++) keys[`dev-${i}`] = deviceKey('bench-many', `dev-${i}`).publicKeyHex;
  Object.assign(keys, stream.keys);
  const file = join(dir, 'keys-100k.json');
  writeFileSync(file, JSON.stringify(keys));
  return (await runProcessor(['--keys', file, ...workers], stream.lines.slice(0, 20_000).join(''))).peakRssMb;
}

async function main(): Promise<void> {
  const crypto = loadVerifier();
  const cores = availableParallelism();
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`meterproof bench: ${stream.lines.length.toLocaleString()} metrics (10 devices × 20,000, EnergyRes 3, 2 % tampered), crypto ${crypto.name}, ${cores} cores\n`);
  const input = stream.lines.join('');
  const a = rawRate(crypto);
  const aNode = crypto.name === 'node:crypto' ? a : rawRate(opensslVerifier());
  const run = async (args: string[]) => {
    const r = await runProcessor(['--keys', keysFile, ...args], input);
    if (r.lines !== stream.lines.length) throw new Error(`processor emitted ${r.lines} of ${stream.lines.length} metrics`);
    return { ...r, rate: r.lines / r.seconds };
  };
  const b1 = await run(['--workers', '0']);
  const b2 = await run([]);
  const c = referenceLoop();
  const lat = await latency();
  const start = await startup();
  const bare = await bareNode();
  const rss1 = await manyDevices(['--workers', '0']);
  const rss2 = await manyDevices([]);
  const rows: [string, string][] = [
    [`(a) raw verify, ${crypto.name}, 1 core`, `${f(a)} /s`],
    ['    raw verify, node:crypto, 1 core', `${f(aNode)} /s`],
    ['(b1) processor, 1 thread (--workers 0)', `${f(b1.rate)} metrics/s   b1/a = ${f(b1.rate / a, 2)}`],
    [`(b2) processor, default (main + ${cores - 1} worker)`, `${f(b2.rate)} metrics/s   b2/a = ${f(b2.rate / a, 2)}, per core ${f(b2.rate / a / cores, 2)}`],
    ['(c) reference validator loop (PyNaCl)', c ? `${f(c.rate)} /s   b1/c = ${f(b1.rate / c.rate, 2)}, b2/c = ${f(b2.rate / c.rate, 2)}` : 'python3-nacl not installed (apt-get install python3-nacl)'],
    ['    reference validator: genuine readings rejected', c ? `${f(c.rejectedGenuine * 100, 2)} % (meterproof: 0 %)` : 'n/a'],
    ['start-up to first output (median of 5)', `${f(start, 1)} ms (bare node: ${f(bare, 1)} ms, ratio ${f(start / bare, 2)})`],
    [`lone-metric latency at 1,000/s, p50 / p99 (after ${LATENCY_WARMUP} warm-up)`, `${f(lat.p50, 2)} / ${f(lat.p99, 2)} ms`],
    ['peak RSS, 200,000-metric run (1 thread / default)', `${f(b1.peakRssMb, 1)} / ${f(b2.peakRssMb, 1)} MB`],
    ['peak RSS, 100,000 registered devices (1 thread / default)', `${f(rss1, 1)} / ${f(rss2, 1)} MB`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  rmSync(dir, { recursive: true, force: true });
}

if (process.argv[2] === '--latency-probe') void latencyProbe(process.argv[3]!, process.argv[4]!);
else void main();
