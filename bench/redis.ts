/**
 * (e) `--state redis://…` against `--state FILE`: the processor's steady rate with each (default
 * threads), alternately, three rounds, on a redis-server of its own on loopback; and the latency with
 * each, of a lone metric and at 1,000 metrics/s. Skipped, saying so, when redis-server is not installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runProcessor, type Pacing } from './processor-runs';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisFigures {
  file: number;
  redis: number;
  ratio: number;
  rounds: number[];
  /** Each metric alone (bench/processor-runs.ts `lone`), and one every millisecond (`stream`). */
  lone: { redis: Latency; file: Latency };
  stream: { redis: Latency; file: Latency };
}

interface Latency {
  p50: number;
  p99: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const cli = (port: number, ...args: string[]) =>
  spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();

export const redisAvailable = () => existsSync(REDIS_SERVER);

export async function redisVersusFile(
  processor: string,
  benchScript: string,
  dir: string,
  input: { keys: string; input: string; latency: string; metrics: number },
  rounds: number,
): Promise<RedisFigures> {
  const port = await freePort();
  const server = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  try {
    for (let i = 0; i < 100 && cli(port, 'ping') !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 100));
    const url = `redis://127.0.0.1:${port}`;
    const stateFile = join(dir, 'bench-state.json');
    const rate = async (state: string) => {
      rmSync(stateFile, { force: true });
      cli(port, 'flushall');
      const r = await runProcessor(processor, ['--keys', input.keys, '--state', state], input.input);
      if (r.lines !== input.metrics) throw new Error(`processor emitted ${r.lines} of ${input.metrics} metrics`);
      return r.steadyRate ?? r.wholeRate;
    };
    const file: number[] = [];
    const redis: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < rounds; i++) {
      file.push(await rate(stateFile));
      redis.push(await rate(url));
      ratios.push(redis[i]! / file[i]!);
    }
    const latency = (state: string, pacing: Pacing): Latency => {
      rmSync(stateFile, { force: true });
      cli(port, 'flushall');
      const probe = spawnSync(process.execPath, [benchScript, '--latency-probe', input.latency, input.keys, pacing, '--state', state], {
        encoding: 'utf8',
      });
      if (probe.status !== 0) throw new Error(`latency probe failed: ${probe.stderr}`);
      return JSON.parse(probe.stdout) as Latency;
    };
    // Back to back, so the machine's load weighs on both alike.
    const both = (pacing: Pacing) => ({ file: latency(stateFile, pacing), redis: latency(url, pacing) });
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return {
      file: median(file),
      redis: median(redis),
      ratio: median(ratios),
      rounds: ratios,
      lone: both('lone'),
      stream: both('stream'),
    };
  } finally {
    server.kill('SIGKILL');
  }
}
