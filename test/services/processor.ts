/**
 * The real processor (dist/processor.js) as Telegraf's processors.execd runs it: a child process fed
 * line protocol on stdin; its stdout is split into metrics with the processor's own quote-aware
 * splitter, since string fields may hold raw newlines.
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricSplitter } from '../../core/lineprotocol/split';
import { NODE_FLAGS } from '../../processor/launch-flags';

export const DIST = fileURLToPath(new URL('../../dist', import.meta.url));

/** Fails loudly when the build is missing: these tests run the shipped artefacts, not the sources. */
export async function requireBuild(file: 'processor.js' | 'meterproof.js'): Promise<string> {
  const path = resolve(DIST, file);
  await access(path).catch(() => {
    throw new Error(`${path} is missing: run \`npm run build\` first`);
  });
  return path;
}

export interface ProcessorChild {
  /** One metric line, with its '\n', as Telegraf writes it to stdin. */
  send(line: string): void;
  /** Closes stdin, as Telegraf does on shutdown, and waits for the exit. */
  close(): Promise<{ code: number | null; stderr: string }>;
}

export async function startProcessor(args: readonly string[], onMetric: (line: string) => void): Promise<ProcessorChild> {
  const proc = spawn(process.execPath, [...NODE_FLAGS, await requireBuild('processor.js'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const splitter = new MetricSplitter();
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  proc.stdout.on('data', (chunk: Buffer) => {
    splitter.push(chunk);
    for (let l = splitter.next(); l; l = splitter.next()) onMetric(l.buf.toString('utf8', l.start, l.end));
  });
  const exited = new Promise<number | null>((done) => proc.once('close', (code) => done(code)));
  return {
    send: (line) => void proc.stdin.write(line),
    async close() {
      proc.stdin.end();
      const timeout = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timeout);
      for (let l = splitter.finish(); l; l = splitter.finish()) onMetric(l.buf.toString('utf8', l.start, l.end));
      return { code, stderr };
    },
  };
}
