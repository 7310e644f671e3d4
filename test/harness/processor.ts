/** Drives the built dist/processor.js the way Telegraf's processors.execd does: a child over pipes. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { MetricSplitter, type SplitLine } from '../../core/lineprotocol/split';
import { NODE_FLAGS } from '../../processor/launch-flags';

/** Fails loudly when the build is missing: these tests run the shipped artefacts, not the sources. */
export function requireBuild(file: 'processor.js' | 'meterproof.js'): string {
  const path = join(__dirname, '..', '..', 'dist', file);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first`);
  return path;
}

/** Whether every account may reach `file`: each folder above it searchable by others, the file readable. */
function everyoneCanRead(file: string): boolean {
  if ((statSync(file).mode & 0o004) === 0) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

let staged: string | undefined;
/**
 * The built file as another account (`nobody`) can run it. A checkout may sit where only its owner may
 * enter (`/root`, or a `mktemp -d` folder, are 0700): then dist/ and sodium-native (this platform's
 * build only) are copied, once, into a folder every account may read, laid out as an install is.
 */
export function requireBuildForAll(file: 'processor.js' | 'meterproof.js'): string {
  const own = requireBuild(file);
  if (everyoneCanRead(own)) return own;
  if (!staged) {
    staged = mkdtempSync(join(tmpdir(), 'meterproof-install-'));
    chmodSync(staged, 0o755);
    const repo = join(dirname(own), '..');
    const prebuilds = join(repo, 'node_modules', 'sodium-native', 'prebuilds') + sep;
    const thisPlatform = prebuilds + `${process.platform}-${process.arch}`;
    cpSync(join(repo, 'dist'), join(staged, 'dist'), { recursive: true });
    cpSync(join(repo, 'node_modules', 'sodium-native'), join(staged, 'node_modules', 'sodium-native'), {
      recursive: true,
      filter: (from) => !from.startsWith(prebuilds) || from.startsWith(thisPlatform),
    });
    // cpSync keeps modes, and the folders it creates are made under this process's umask.
    for (const dir of [join(staged, 'dist'), join(staged, 'node_modules')]) chmodSync(dir, 0o755);
  }
  return join(staged, 'dist', file);
}

export function tempDir(prefix = 'meterproof-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeKeys(dir: string, keys: unknown, name = 'pub_keys.json'): string {
  const path = join(dir, name);
  writeFileSync(path, typeof keys === 'string' ? keys : JSON.stringify(keys));
  return path;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Writes all input, closes stdin (Telegraf's shutdown starts this way) and collects everything. */
export function runProcessor(args: string[], input: string | Buffer): Promise<RunResult> {
  const child = startProcessor(args);
  const done = collect(child);
  child.stdin.end(input);
  return done;
}

/** The one spawn (Node's flags as shipped); no I! summary unless `args` ask for one. */
export function startProcessor(args: readonly string[], summary = ['--summary-interval', '0']): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [...NODE_FLAGS, requireBuild('processor.js'), ...summary, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
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

export interface MetricChild {
  /** One metric line, with its '\n'. */
  send(line: string): void;
  /** Closes stdin (Telegraf's shutdown) and waits for the exit. */
  close(): Promise<{ code: number | null; stderr: string }>;
}

/** Run with exactly telegraf.conf's `args`; each metric out, split quote-aware, goes to `onMetric`. */
export function startMetricChild(args: readonly string[], onMetric: (line: string) => void): MetricChild {
  const child = startProcessor(args, []);
  const splitter = new MetricSplitter();
  const emit = (take: () => SplitLine | undefined) => {
    for (let l = take(); l; l = take()) onMetric(l.buf.toString('utf8', l.start, l.end));
  };
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  child.stdout.on('data', (chunk: Buffer) => (splitter.push(chunk), emit(() => splitter.next())));
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
  return {
    send: (line) => void child.stdin.write(line),
    async close() {
      child.stdin.end();
      const timeout = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timeout);
      emit(() => splitter.finish());
      return { code, stderr };
    },
  };
}
