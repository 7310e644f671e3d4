/**
 * Where the built processor takes libsodium from (docs/design.md §5): only `<dir>/node_modules/sodium-native`
 * or `<dir>/../node_modules/sodium-native` for dist/processor.js in <dir>, never along Node's module path,
 * and only once it has passed the self-test, on the main thread and on every worker thread alike.
 * Runs copies of dist/processor.js in temporary folders, next to fake sodium-native packages that verify
 * everything and note in a marker file each time they are loaded.
 */
import { spawn } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Plug } from '../../sim/plug';
import { NODE_FLAGS } from '../../processor/launch-flags';
import { collect, requireBuild, tempDir, writeKeys, type RunResult } from '../harness/processor';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';
import { decode, splitLines, tag } from '../harness/metrics';

const PROCESSOR = requireBuild('processor.js');
const REAL_SODIUM = realpathSync(join(__dirname, '..', '..', 'node_modules', 'sodium-native'));
const root = tempDir('meterproof-crypto-loading-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const plug = new Plug({ name: 'p1', energyRes: 3 }, 'crypto-loading');
const keys = writeKeys(root, { p1: plug.publicKeyHex });
const T0 = Date.UTC(2025, 5, 1);
let second = 0;
/** The next reading, genuine or with one signature bit flipped. */
function reading(forged: boolean): string {
  plug.consume(10);
  const r = plug.read(new Date(T0 + ++second * 1000));
  const signature = forged ? r.signature.replace(/^./, (c) => (parseInt(c, 16) ^ 1).toString(16)) : r.signature;
  return telegrafLine(r.topic, r.payload.replace(r.signature, signature), BigInt(T0 + second) * 1_000_000n, {
    mode: 'json',
    topicTags: '_/device/_',
  });
}
/** `n` readings, every third forged, and the verdicts they must get. */
function readings(n: number): { input: string; expected: string[] } {
  const lines = Array.from({ length: n }, (_, i) => ({ forged: i % 3 === 1 }));
  return {
    input: lines.map((l) => reading(l.forged)).join(''),
    expected: lines.map((l) => (l.forged ? 'bad_signature' : 'ok')),
  };
}

let places = 0;
/** A fresh folder under the temporary root. */
const folder = (name: string): string => {
  const dir = join(root, `${++places}-${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

/** A copy of dist/processor.js at `<base>/<rel>`. */
function copyProcessor(base: string, rel = join('dist', 'processor.js')): string {
  const file = join(base, rel);
  mkdirSync(dirname(file), { recursive: true });
  copyFileSync(PROCESSOR, file);
  return file;
}

/**
 * A sodium-native in `nodeModules` whose every answer is "valid" (what a tampered or impostor build could
 * do). Each load appends `main` or `worker` to the marker file it returns.
 */
function plantLiar(nodeModules: string): string {
  const pkg = join(nodeModules, 'sodium-native');
  mkdirSync(pkg, { recursive: true });
  const marker = join(pkg, 'LOADED');
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'sodium-native', version: '5.1.0', main: 'index.js' }));
  writeFileSync(
    join(pkg, 'index.js'),
    `require('fs').appendFileSync(${JSON.stringify(marker)}, (require('worker_threads').isMainThread ? 'main' : 'worker') + '\\n');
module.exports = { crypto_sign_verify_detached: () => true, crypto_core_ed25519_is_valid_point: () => true };
`,
  );
  return marker;
}

/** The real sodium-native (the repository's, linked) in `nodeModules`. */
function plantReal(nodeModules: string): void {
  mkdirSync(nodeModules, { recursive: true });
  symlinkSync(REAL_SODIUM, join(nodeModules, 'sodium-native'), 'dir');
}

const loads = (marker: string): string[] => (existsSync(marker) ? readFileSync(marker, 'utf8').trim().split('\n') : []);

function run(processor: string, args: string[], input: string, o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [...NODE_FLAGS, processor, '--summary-interval', '0', '--keys', keys, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: o.cwd ?? root,
    // No NODE_PATH or HOME of the machine running the tests leaks in unless a test sets one.
    env: { PATH: process.env.PATH, ...o.env },
  });
  const done = collect(child);
  child.stdin.end(input);
  return done;
}

const statuses = (r: RunResult): (string | undefined)[] => splitLines(r.stdout).map((l) => tag(decode(l), 'verify_status'));
const backendLine = (r: RunResult): string | undefined => /^I! Ed25519 verification by [^,( \n]+/m.exec(r.stderr)?.[0];
const warnings = (r: RunResult): string[] => r.stderr.split('\n').filter((l) => l.startsWith('W! sodium-native'));

describe('sodium-native is looked for only beside the processor', () => {
  // Each place is one the old lookup (require('sodium-native') from the processor's file) would have used.
  const elsewhere: [string, (base: string) => { marker: string; cwd?: string; env?: NodeJS.ProcessEnv }][] = [
    [
      'NODE_PATH',
      (base) => ({ marker: plantLiar(join(base, 'path', 'node_modules')), env: { NODE_PATH: join(base, 'path', 'node_modules') } }),
    ],
    // The current directory, a folder above the processor's own: Node's resolver walks up to it (and to /).
    ['the current directory, above the processor', (base) => ({ marker: plantLiar(join(base, 'node_modules')), cwd: base })],
    ['$HOME/.node_modules', (base) => ({ marker: plantLiar(join(base, 'home', '.node_modules')), env: { HOME: join(base, 'home') } })],
  ];

  describe.each(elsewhere)('one in %s', (_, plant) => {
    it.each(['auto', 'node'])('is never loaded with --crypto %s, none being beside the processor', async (crypto) => {
      const base = folder('elsewhere');
      const processor = copyProcessor(join(base, 'app')); // <base>/app/dist/processor.js, no node_modules in <base>/app
      const { marker, cwd, env } = plant(base);
      const { input, expected } = readings(6);
      const r = await run(processor, ['--crypto', crypto], input, { cwd, env });
      expect(r.code).toBe(0);
      expect(loads(marker)).toEqual([]);
      expect(backendLine(r)).toBe('I! Ed25519 verification by node:crypto');
      expect(warnings(r)).toEqual([]);
      expect(statuses(r)).toEqual(expected);
    });
  });

  it('the real one is used from <dir>/../node_modules (the npm layout), one elsewhere being ignored', async () => {
    const base = folder('npm-layout');
    const processor = copyProcessor(base);
    plantReal(join(base, 'node_modules'));
    const marker = plantLiar(join(base, 'path', 'node_modules'));
    const { input, expected } = readings(6);
    const r = await run(processor, [], input, { env: { NODE_PATH: join(base, 'path', 'node_modules') } });
    expect(r.code).toBe(0);
    expect(backendLine(r)).toBe('I! Ed25519 verification by libsodium');
    expect(warnings(r)).toEqual([]);
    expect(loads(marker)).toEqual([]);
    expect(statuses(r)).toEqual(expected);
  });

  it('the real one is used from <dir>/node_modules (the processor copied with its own node_modules)', async () => {
    const base = folder('flat');
    const processor = copyProcessor(base, 'processor.js');
    plantReal(join(base, 'node_modules'));
    const { input, expected } = readings(6);
    const r = await run(processor, ['--crypto', 'sodium'], input);
    expect(r.code).toBe(0);
    expect(backendLine(r)).toBe('I! Ed25519 verification by libsodium');
    expect(statuses(r)).toEqual(expected);
  });
});

describe('sodium-native beside the processor is used only once it passes the self-test', () => {
  it.each([
    ['<dir>/../node_modules', join('dist', 'processor.js'), 'node_modules'],
    ['<dir>/node_modules', 'processor.js', 'node_modules'],
  ])('one in %s that verifies everything is refused: one W! line, node:crypto, forgeries still bad_signature', async (_, rel, nm) => {
    const base = folder('liar');
    const processor = copyProcessor(base, rel);
    const marker = plantLiar(join(base, nm));
    const { input, expected } = readings(6);
    const r = await run(processor, ['--workers', '0'], input);
    expect(r.code).toBe(0);
    expect(loads(marker)).toEqual(['main']); // found and loaded, then refused by the self-test
    expect(warnings(r)).toEqual([
      `W! sodium-native in ${join(base, nm, 'sodium-native')} failed its self-test (an RFC 8032 signature, the same with a bit flipped or over another message, and a small-order key): not using it`,
    ]);
    expect(backendLine(r)).toBe('I! Ed25519 verification by node:crypto');
    expect(statuses(r)).toEqual(expected);
  });

  it('the worker threads run the self-test too, and say nothing more', async () => {
    const base = folder('liar-workers');
    const processor = copyProcessor(base);
    const marker = plantLiar(join(base, 'node_modules'));
    // A burst goes to the worker threads (processor/crypto/pool.ts).
    const { input, expected } = readings(3000);
    const r = await run(processor, ['--workers', '2'], input);
    expect(r.code).toBe(0);
    expect(loads(marker).sort()).toEqual(['main', 'worker', 'worker']);
    expect(warnings(r).length).toBe(1);
    expect(backendLine(r)).toBe('I! Ed25519 verification by node:crypto');
    expect(statuses(r)).toEqual(expected);
  });

  it('with --crypto sodium, one that fails the self-test stops the processor with exit status 1, saying why', async () => {
    const base = folder('liar-sodium');
    const processor = copyProcessor(base);
    plantLiar(join(base, 'node_modules'));
    const r = await run(processor, ['--crypto', 'sodium'], readings(3).input);
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toContain(`--crypto sodium: sodium-native in ${join(base, 'node_modules', 'sodium-native')} failed its self-test`);
  });

  // Needs processor/main.ts to catch loadVerifier's error and log it as `E! ` (exit 1, no stack trace).
  // Flip to it() when it does.
  it('with --crypto sodium, that reason is one E! line and nothing else', async () => {
    const base = folder('liar-sodium-e');
    const processor = copyProcessor(base);
    plantLiar(join(base, 'node_modules'));
    const r = await run(processor, ['--crypto', 'sodium'], readings(3).input);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E! .*sodium-native in .* failed its self-test/m);
    expect(r.stderr.split('\n').every((l) => l === '' || /^[EWID]! /.test(l))).toBe(true);
  });

  // Needs processor/main.ts to pass its choice to nativePointCheck(opts.crypto): today it asks for the point
  // check before the backend, as if --crypto were auto, and that loads sodium-native. Flip to it() when it does.
  it('with --crypto node, not even the one beside the processor is loaded', async () => {
    const base = folder('liar-node');
    const processor = copyProcessor(base);
    const marker = plantLiar(join(base, 'node_modules'));
    const { input, expected } = readings(6);
    const r = await run(processor, ['--crypto', 'node'], input);
    expect(statuses(r)).toEqual(expected);
    expect(loads(marker)).toEqual([]);
    expect(warnings(r)).toEqual([]);
  });
});

/** A C compiler and Node's headers, to build a native addon that lies (the direct-addon fast path). */
const nodeHeaders = join(dirname(process.execPath), '..', 'include', 'node');
const canBuildAddon = existsSync(join(nodeHeaders, 'node_api.h')) && spawnSync('cc', ['--version']).status === 0;

describe.skipIf(!canBuildAddon)('the direct-addon fast path', () => {
  it('a prebuilt addon that verifies everything is refused by the self-test, as is its package', async () => {
    const base = folder('liar-addon');
    const processor = copyProcessor(base);
    const marker = plantLiar(join(base, 'node_modules'));
    const source = join(base, 'liar.c');
    writeFileSync(
      source,
      `#include <node_api.h>
#include <stdio.h>
static napi_value yes(napi_env env, napi_callback_info info) { napi_value r; napi_get_boolean(env, true, &r); return r; }
NAPI_MODULE_INIT() {
  FILE *f = fopen(${JSON.stringify(marker)}, "a");
  if (f) { fputs("addon\\n", f); fclose(f); }
  const char *names[] = { "crypto_sign_verify_detached", "crypto_core_ed25519_is_valid_point" };
  for (int i = 0; i < 2; i++) {
    napi_value fn;
    napi_create_function(env, names[i], NAPI_AUTO_LENGTH, yes, NULL, &fn);
    napi_set_named_property(env, exports, names[i], fn);
  }
  return exports;
}
`,
    );
    const prebuilds = join(base, 'node_modules', 'sodium-native', 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(prebuilds, { recursive: true });
    const cc = spawnSync('cc', ['-shared', '-fPIC', `-I${nodeHeaders}`, '-o', join(prebuilds, 'sodium-native.node'), source], {
      encoding: 'utf8',
    });
    expect(cc.stderr).toBe('');
    const { input, expected } = readings(6);
    const r = await run(processor, ['--workers', '0'], input);
    expect(r.code).toBe(0);
    // The addon was loaded and refused; the package's module was then tried, and refused too.
    expect(loads(marker)).toEqual(['addon', 'main']);
    expect(warnings(r).length).toBe(1);
    expect(backendLine(r)).toBe('I! Ed25519 verification by node:crypto');
    expect(statuses(r)).toEqual(expected);
  });
});
