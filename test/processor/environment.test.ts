/**
 * A bad environment never crash-loops the processor: a --state folder that is missing or unwritable,
 * symlinks planted beside the state file, a stale lock naming a recycled PID, a FIFO as --keys, and a
 * storm of SIGHUPs. Each run answers every metric and ends as Telegraf expects.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Plug } from '../../sim/plug';
import { parseState } from '../../processor/state-file';
import { NODE_FLAGS } from '../../processor/launch-flags';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';
import { collect, lineReader, requireBuildForAll, startProcessor, tempDir, writeKeys } from '../harness/processor';
import { decode, splitLines, tag } from '../harness/metrics';

const dir = tempDir();
chmodSync(dir, 0o755); // an unprivileged child must reach the keys
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const plug = new Plug({ name: 'env', energyRes: 3 }, 'environment');
const keys = writeKeys(dir, { env: plug.publicKeyHex });
const T0 = Date.UTC(2025, 7, 1);
let n = 0;
const reading = () => {
  plug.consume(10);
  const r = plug.read(new Date(T0 + ++n * 1000));
  return telegrafLine(r.topic, r.payload, BigInt(T0 + n) * 1_000_000n, { mode: 'json', topicTags: '_/device/_' });
};
const statusOf = (line: string) => tag(decode(Buffer.from(line)), 'verify_status');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
/** The next answer, or a failure as soon as the processor has exited (rather than a test timeout). */
function answers(child: ChildProcessWithoutNullStreams): () => Promise<string> {
  const next = lineReader(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`the processor exited (${code ?? signal}) before answering:\n${stderr}`))),
  );
  exited.catch(() => {});
  return () => Promise.race([next(), exited]);
}
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('E! '));

/** Root ignores file modes, so an unwritable folder is tested as `nobody`; others just chmod. */
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;
function unwritableFolder(name: string): string {
  const folder = join(dir, name);
  mkdirSync(folder);
  chmodSync(folder, asRoot ? 0o755 : 0o555);
  return folder;
}
function makeWritable(folder: string): void {
  if (asRoot) chownSync(folder, NOBODY, NOBODY);
  else chmodSync(folder, 0o755);
}
function startUnprivileged(args: string[]) {
  const child = spawn(process.execPath, [...NODE_FLAGS, requireBuildForAll('processor.js'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(asRoot && { uid: NOBODY, gid: NOBODY }),
  });
  child.stdin.on('error', () => {});
  return child;
}

describe('--state in a bad place: memory only, one E! line, retried', () => {
  it('runs without persistence while the folder is missing, and saves once it is created', async () => {
    const folder = join(dir, 'later');
    const state = join(folder, 'state.json');
    const child = startProcessor(['--keys', keys, '--state', state, '--state-retry-interval', '200'], ['--summary-interval', '0.3']);
    const next = answers(child);
    const done = collect(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    for (let i = 0; i < 3; i++) {
      child.stdin.write(reading());
      expect(statusOf(await next())).toBe('ok');
    }
    await waitFor('a summary', () => /^I! summary: .*state=memory-only/m.test(stderr));
    mkdirSync(folder);
    await waitFor('the state file', () => existsSync(state));
    child.stdin.write(reading());
    expect(statusOf(await next())).toBe('ok');
    child.stdin.end();
    const r = await done;
    expect([r.code, r.signal]).toEqual([0, null]);
    const errors = errorLines(r.stderr);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^E! state: .*later.* does not exist \(create it.*\).*memory only/);
    expect(r.stderr).toMatch(/^I! state: .*state\.json.* saving there from now on/m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // The readings accepted before the folder existed were kept and saved.
    expect(parseState(readFileSync(state, 'utf8'))).toEqual([['env', expect.objectContaining({ time19: expect.any(String) })]]);
    expect(parseState(readFileSync(state, 'utf8'))[0]![1].time19).toBe(new Date(T0 + n * 1000).toISOString().slice(0, 19));
  });

  it('runs without persistence in a folder it may not write, says what to do, and saves once it may', async () => {
    const folder = unwritableFolder('unwritable');
    const state = join(folder, 'state.json');
    const child = startUnprivileged(['--keys', keys, '--state', state, '--state-retry-interval', '200', '--summary-interval', '0.3']);
    const next = answers(child);
    const done = collect(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.write(reading());
    expect(statusOf(await next())).toBe('ok');
    await waitFor('a summary', () => /^I! summary: .*state=memory-only/m.test(stderr));
    expect(existsSync(state)).toBe(false);
    makeWritable(folder);
    await waitFor('the state file', () => existsSync(state));
    child.stdin.write(reading());
    expect(statusOf(await next())).toBe('ok');
    child.stdin.end();
    const r = await done;
    expect([r.code, r.signal]).toEqual([0, null]);
    const errors = errorLines(r.stderr);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^E! state: .*unwritable.*permission denied.*chown/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(parseState(readFileSync(state, 'utf8'))[0]![1].time19).toBe(new Date(T0 + n * 1000).toISOString().slice(0, 19));
  });
});

describe('files beside the state file', () => {
  it('never writes through a symlink planted at a temp or lock path', async () => {
    const folder = join(dir, 'planted');
    mkdirSync(folder);
    const state = join(folder, 'state.json');
    const victims = ['tmp', 'locktmp', 'lock'].map((v) => {
      const p = join(dir, `victim-${v}`);
      writeFileSync(p, 'precious\n');
      return p;
    });
    const child = startProcessor(['--keys', keys, '--state', state, '--state-interval', '50']);
    // The names earlier versions used, planted before the child's code runs.
    symlinkSync(victims[0]!, `${state}.tmp-${child.pid}`);
    symlinkSync(victims[1]!, `${state}.lock.${child.pid}`);
    symlinkSync(victims[2]!, `${state}.lock`);
    const next = answers(child);
    const done = collect(child);
    child.stdin.write(reading());
    expect(statusOf(await next())).toBe('ok');
    await sleep(200); // at least one periodic save
    child.stdin.end();
    const r = await done;
    expect([r.code, r.signal]).toEqual([0, null]);
    for (const v of victims) expect(readFileSync(v, 'utf8')).toBe('precious\n');
    expect(lstatSync(state).isFile()).toBe(true);
    expect(parseState(readFileSync(state, 'utf8')).map(([d]) => d)).toEqual(['env']);
    expect(existsSync(`${state}.lock`)).toBe(false);
    expect(r.stderr).not.toMatch(/held by another/);
  });

  it('takes over a lock naming a live process that is not this processor (a recycled PID)', async () => {
    const state = join(dir, 'recycled.json');
    const other = spawn('sleep', ['60']);
    try {
      writeFileSync(`${state}.lock`, String(other.pid));
      const child = startProcessor(['--keys', keys, '--state', state]);
      const done = collect(child);
      child.stdin.end(reading() + reading());
      const r = await done;
      expect([r.code, r.signal]).toEqual([0, null]);
      expect(splitLines(r.stdout).map((l) => tag(decode(l), 'verify_status'))).toEqual(['ok', 'ok']);
      expect(r.stderr).not.toMatch(/held by another/);
      expect(parseState(readFileSync(state, 'utf8')).map(([d]) => d)).toEqual(['env']);
      expect(existsSync(`${state}.lock`)).toBe(false);
    } finally {
      other.kill('SIGKILL');
    }
  });
});

describe('keys that block, and signals', () => {
  it('refuses a FIFO as --keys at start with one E! line and exit 1, quickly', async () => {
    const fifo = join(dir, 'fifo-start.json');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    const child = startProcessor(['--keys', fifo]);
    const done = collect(child);
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const r = await done;
    clearTimeout(killer);
    expect([r.code, r.signal]).toEqual([1, null]);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^E! keys: .*fifo-start\.json: not a regular file .*cannot start/)]);
  });

  it('keeps the last good keys when the key file becomes a FIFO, still answering metrics and SIGTERM', async () => {
    const file = writeKeys(dir, { env: plug.publicKeyHex }, 'fifo-reload.json');
    const child = startProcessor(['--keys', file, '--reload-interval', '100']);
    const next = answers(child);
    const done = collect(child);
    child.stdin.write(reading());
    expect(statusOf(await next())).toBe('ok');
    unlinkSync(file);
    execFileSync('mkfifo', [file]);
    child.kill('SIGHUP');
    await sleep(300); // the SIGHUP and a poll both look at the FIFO
    child.stdin.write(reading());
    const answered = await Promise.race([next(), sleep(10_000).then(() => 'no answer')]);
    expect(answered === 'no answer' ? answered : statusOf(answered)).toBe('ok');
    const termAt = Date.now();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const r = await done;
    clearTimeout(killer);
    expect([r.code, r.signal]).toEqual([0, null]);
    expect(Date.now() - termAt).toBeLessThan(5000);
    expect(r.stderr).toMatch(/^E! keys: .*fifo-reload\.json: not a regular file .*keeping the last good keys \(1 devices\)$/m);
  });

  it('survives a burst of 200 SIGHUPs while start-up is still loading a large state file, and exits 0 on EOF', async () => {
    // A large fleet's state file takes a while to load: something slow at start-up, as on a real host.
    const state = join(dir, 'large-state.json');
    const devices: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) devices[`fleet-${i}`] = { time: '2025-01-01T00:00:00', totals: [i / 1000], key: 'ab'.repeat(32) };
    writeFileSync(state, JSON.stringify({ version: 1, devices }));
    const child = startProcessor(['--keys', keys, '--state', state]);
    const done = collect(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const burst = (count: number) => {
      for (let i = 0; i < count; i++) child.kill('SIGHUP');
    };
    // As soon as a SIGHUP handler exists (SigCgt bit 1), and again at the first log line.
    const catches = () => {
      try {
        return (BigInt(`0x${/SigCgt:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]}`) & 1n) === 1n;
      } catch {
        return false;
      }
    };
    const running = () => child.exitCode === null && child.signalCode === null;
    const watch = (async () => {
      while (!catches() && running()) await new Promise((r) => setImmediate(r));
      if (running()) burst(100);
    })();
    await new Promise<void>((r) => child.stderr.once('data', () => r()));
    const beforeStateLoaded = !/state: loaded/.test(stderr);
    burst(100);
    await watch;
    await sleep(300);
    child.stdin.end([reading(), reading(), reading()].join(''));
    const r = await done;
    expect([r.code, r.signal]).toEqual([0, null]);
    expect(beforeStateLoaded).toBe(true);
    expect(r.stderr).toMatch(/^I! state: loaded 100000 devices/m);
    expect(splitLines(r.stdout).map((l) => tag(decode(l), 'verify_status'))).toEqual(['ok', 'ok', 'ok']);
    // Reloads asked for while one is under way fold into one more.
    expect(r.stderr.match(/^I! keys: reloaded/gm)?.length ?? 0).toBeLessThan(20);
  });
});
