/** Drives the built dist/processor.js the way Telegraf's processors.execd does: a child over pipes. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_FLAGS } from '../../processor/launch-flags';

export const PROCESSOR = join(__dirname, '..', '..', 'dist', 'processor.js');

export function tempDir(prefix = 'meterproof-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeKeys(dir: string, keys: unknown, name = 'pub_keys.json'): string {
  const path = join(dir, name);
  writeFileSync(path, typeof keys === 'string' ? keys : JSON.stringify(keys));
  return path;
}

export interface RunResult { stdout: Buffer; stderr: string; code: number | null; signal: NodeJS.Signals | null }

/** Writes all input, closes stdin (Telegraf's shutdown starts this way) and collects everything. */
export function runProcessor(args: string[], input: string | Buffer): Promise<RunResult> {
  const child = startProcessor(args);
  const done = collect(child);
  child.stdin.end(input);
  return done;
}

export function startProcessor(args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [...NODE_FLAGS, PROCESSOR, '--summary-interval', '0', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {}); // EPIPE after a deliberate kill is expected
  return child;
}

export function collect(child: ChildProcessWithoutNullStreams): Promise<RunResult> {
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ stdout: Buffer.concat(out), stderr, code, signal }));
  });
}

/** Reads stdout line by line as it arrives (for latency and interactive tests). */
export function lineReader(child: ChildProcessWithoutNullStreams): () => Promise<string> {
  let buf = '';
  const waiting: ((l: string) => void)[] = [];
  const ready: string[] = [];
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(line);
      else ready.push(line);
    }
  });
  return () => {
    const l = ready.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((r) => waiting.push(r));
  };
}
