/**
 * (b) The processor end to end, as Telegraf drives it: metrics arrive on a pipe and leave on a pipe.
 * The ends are `cat` and `wc -lc`, so the harness itself takes as little CPU from the run as it can
 * (a Node reader on the output pipe costs the processor about 10 % on two cores). Also start-up,
 * lone-metric latency and peak RSS.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { onCore } from './cores';
import { NODE_FLAGS } from '../processor/launch-flags';

/**
 * The environment the processor starts in: Telegraf's own, which has no reason to carry these. This
 * machine sets NODE_EXTRA_CA_CERTS, which makes every `node` start parse a CA bundle first.
 */
export const cleanEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
};

/**
 * A run's throughput two ways. `wholeRate` counts from spawn to exit, so a 6-second run carries the
 * processor's start-up and the JIT's warm-up (about 0.4 s here). `steadyRate` counts only after the
 * first STEADY_AFTER of the output: the rate a processor Telegraf keeps running sustains, measured
 * like (a) and (c), whose start-ups are outside their timed loops. Start-up has its own figure.
 */
export interface Run {
  wholeRate: number;
  /** Undefined when no sample of the output fell between STEADY_AFTER and its end (a short run). */
  steadyRate: number | undefined;
  lines: number;
  peakRssMb: number;
}

export const STEADY_AFTER = 0.1;
const SAMPLE_MS = 10;

/** Runs `node processor args` (on `core` alone, if given) from `cat inputFile` into `wc -lc`; resolves when all have exited. */
export function runProcessor(processor: string, args: string[], inputFile: string, core?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const feed = spawn('cat', [inputFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [cmd, argv] = onCore(core, process.execPath, [...NODE_FLAGS, processor, '--summary-interval', '0', ...args]);
    const child = spawn(cmd, argv, { stdio: [feed.stdout, 'pipe', 'ignore'], env: cleanEnv() });
    const count = spawn('wc', ['-lc'], { stdio: [child.stdout, 'pipe', 'inherit'] });
    let peak = 0,
      counted = '';
    const read: [ms: number, bytes: number][] = [];
    const sample = setInterval(() => {
      peak = Math.max(peak, rssOf(child.pid!));
      const bytes = bytesRead(count.pid!);
      if (bytes !== undefined) read.push([performance.now(), bytes]);
    }, SAMPLE_MS);
    count.stdout.on('data', (d: Buffer) => (counted += d));
    for (const p of [feed, child, count]) p.on('error', reject);
    count.on('exit', () => {
      const end = performance.now();
      clearInterval(sample);
      const [lines, bytes] = counted.trim().split(/\s+/).map(Number) as [number, number];
      resolve({ wholeRate: lines / ((end - start) / 1000), steadyRate: steadyRate(read, lines, bytes, end), lines, peakRssMb: peak });
    });
  });
}

/**
 * Metrics per second from the first sample at or past STEADY_AFTER of the output's bytes to `endMs`,
 * counting lines in proportion to bytes. rchar also counts wc's own start-up reads (about 7 KB),
 * which against ~100 MB of output are noise.
 */
export function steadyRate(
  read: readonly (readonly [ms: number, bytes: number])[],
  lines: number,
  bytes: number,
  endMs: number,
): number | undefined {
  const from = read.find(([, b]) => b >= bytes * STEADY_AFTER && b < bytes);
  return from && (lines * (1 - from[1] / bytes)) / ((endMs - from[0]) / 1000);
}

/** VmHWM (peak resident set) of a live process, in MB. */
function rssOf(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(procFile(pid, 'status') ?? '');
  return m ? Number(m[1]) / 1024 : 0;
}

/** Bytes a live process has read so far (rchar). */
function bytesRead(pid: number): number | undefined {
  const m = /rchar:\s+(\d+)/.exec(procFile(pid, 'io') ?? '');
  return m ? Number(m[1]) : undefined;
}

function procFile(pid: number, name: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${name}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Spawn to first output line of `node args`, median of 5. */
export async function timeToFirstOutput(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'ignore'], env });
      child.on('error', reject);
      child.stdout.once('data', () => {
        runs.push(performance.now() - t);
        child.stdin.end();
        child.on('exit', () => resolve());
      });
      child.stdin.write(input ?? '');
    });
  }
  return runs.sort((a, b) => a - b)[2]!;
}

export const LATENCY_METRICS = 3000;
export const LATENCY_WARMUP = 300; // the first 0.3 s: the JIT compiles the hot path
/** In `lone` pacing, the pause after each answer before the next metric is sent. */
const LONE_PAUSE_MS = 2;

/**
 * How the probe sends: `stream`, one metric every millisecond whatever came back (a busy agent); `lone`,
 * each metric alone, LONE_PAUSE_MS after the previous one came back (nothing else in flight).
 */
export type Pacing = 'stream' | 'lone';

/**
 * Metric latency after the first metric (start-up) has come back, paced as asked. Runs in a small
 * process of its own (`bench.js --latency-probe`): the benchmark's heap would add its own GC pauses.
 */
export async function latencyProbe(
  processor: string,
  file: string,
  keys: string,
  pacing: Pacing,
  extra: readonly string[] = [],
): Promise<void> {
  const lines = readFileSync(file, 'utf8').split(/(?<=\n)/);
  const child = spawn(process.execPath, [...NODE_FLAGS, processor, '--keys', keys, '--summary-interval', '0', ...extra], {
    stdio: ['pipe', 'pipe', 'ignore'],
    env: cleanEnv(),
  });
  const sent: number[] = [];
  const lat: number[] = [];
  let answered: () => void = () => {};
  child.stdout.on('data', (d: Buffer) => {
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) {
      lat.push(performance.now() - sent[lat.length]!);
      answered();
    }
  });
  const send = (i: number): Promise<void> => {
    const back = new Promise<void>((r) => (answered = r));
    sent.push(performance.now());
    child.stdin.write(lines[i]!);
    return back;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await send(0);
  const t0 = performance.now();
  for (let i = 1; i <= LATENCY_METRICS; i++) {
    if (pacing === 'lone') {
      await send(i);
      await sleep(LONE_PAUSE_MS);
      continue;
    }
    // One metric every millisecond, paced by timers: a busy-wait here would hold a whole core and leave
    // the processor and its JIT one core between them, which Telegraf's agent does not do.
    const wait = t0 + i - performance.now();
    if (wait > 0) await sleep(wait);
    void send(i);
  }
  child.stdin.end();
  await new Promise((r) => child.on('exit', r));
  const sorted = lat.slice(1 + LATENCY_WARMUP).sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ p50: sorted[Math.floor(sorted.length * 0.5)], p99: sorted[Math.floor(sorted.length * 0.99)] }));
}
