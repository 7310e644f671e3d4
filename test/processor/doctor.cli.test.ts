/**
 * `meterproof doctor` run as the admin would run it (the built dist/meterproof.js), on a temporary
 * installation: a key file, a state folder and a telegraf.conf whose execd command runs the built
 * processor. As root, the "not writable / not readable" cases are checked as `nobody`, which is what
 * doctor does for the telegraf account; otherwise with chmod, as yourself.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli';
import { requireBuildForAll } from '../harness/processor';

const ROOT = process.getuid!() === 0;
const ME = userInfo().username;
const KEY = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c';
const LINE = /^(ok {2}|warn|FAIL) {2}[a-z_ -]+: /;

let dir: string;
let n = 0;

/** A fresh installation under `dir`; returns its paths. */
function install(conf: (text: string) => string = (t) => t) {
  const base = join(dir, `install-${++n}`);
  mkdirSync(join(base, 'state'), { recursive: true });
  chmodSync(base, 0o755);
  const keys = join(base, 'pub_keys.json');
  writeFileSync(keys, JSON.stringify({ 'kitchen-fridge': KEY }));
  const config = join(base, 'telegraf.conf');
  const sample = readFileSync(join(__dirname, '..', '..', 'telegraf.conf'), 'utf8')
    .replace('"/usr/bin/node"', JSON.stringify(process.execPath))
    .replace('/opt/meterproof/dist/processor.js', requireBuildForAll('processor.js'))
    .replace('/etc/telegraf/pub_keys.json', keys)
    .replace('/var/lib/meterproof/state.json', join(base, 'state', 'state.json'));
  writeFileSync(config, conf(sample));
  return { base, keys, config, state: join(base, 'state') };
}

async function doctor(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await runCli(['doctor', ...args], { env });
  const lines = r.stdout.trimEnd().split('\n');
  const checks = lines.filter((l) => LINE.test(l));
  // A header, one line per check, a summary: nothing else, and nothing on stderr.
  expect(lines.length, r.stdout).toBe(checks.length + 2);
  expect(r.stderr).toBe('');
  return { ...r, checks, failed: checks.filter((l) => l.startsWith('FAIL')) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meterproof-doctor-'));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('meterproof doctor', () => {
  it('passes a good installation, warnings allowed, checking every part once', async () => {
    const { config } = install();
    const r = await doctor(['--config', config, '--as', ME]);
    expect(r.failed, r.stdout).toEqual([]);
    expect(r.code).toBe(0);
    const what = r.checks.map((l) => l.slice(6, l.indexOf(':')));
    expect(what).toEqual([
      'config',
      'node',
      'node version',
      'processor',
      'sodium-native',
      'key file',
      'keys',
      'state folder',
      'agent',
      'execd',
      'data format',
      'topic_parsing',
      'mqtt session',
      'namepass',
      'telegraf version',
    ]);
    expect(r.stdout).toMatch(
      /^ok {4}processor: .*dist\/processor\.js starts as .* with the execd command's flags \(meterproof \d+\.\d+\.\d+\)$/m,
    );
    expect(r.stdout).toMatch(/^ok {4}keys: 1 key for 1 device, none refused$/m);
    expect(r.stdout).toMatch(/^all checks passed, \d+ warnings?$/m);
  });

  it('fails on a state folder that Telegraf’s account cannot write', async () => {
    const { config, state } = install();
    let args = ['--config', config, '--as', ME];
    if (ROOT) args = ['--config', config, '--as', 'nobody'];
    else chmodSync(state, 0o555);
    const r = await doctor(args);
    expect(r.code).toBe(1);
    expect(r.failed).toEqual([
      expect.stringMatching(new RegExp(`^FAIL {2}state folder: ${state} is not writable by ${ROOT ? 'nobody' : ME}; fix: .*chown`)),
    ]);
  });

  it('fails on a key file that Telegraf’s account cannot read', async () => {
    const { config, keys } = install();
    chmodSync(keys, ROOT ? 0o600 : 0o000);
    const r = await doctor(['--config', config, '--as', ROOT ? 'nobody' : ME]);
    expect(r.code).toBe(1);
    // As nobody, the root-owned state folder fails too; the key file comes first.
    expect(r.failed[0]).toMatch(new RegExp(`^FAIL {2}key file: ${keys} is not readable by ${ROOT ? 'nobody' : ME}; fix: .*chmod g\\+r`));
  });

  it('fails on a missing, an invalid and a partly refused key file', async () => {
    const { config, keys } = install();
    const missing = await doctor(['--config', config, '--as', ME, '--keys', join(dir, 'absent.json')]);
    expect(missing.code).toBe(1);
    expect(missing.failed).toEqual([
      expect.stringMatching(
        /^FAIL {2}key file: .*absent\.json does not exist; fix: .*keys add --keys .*absent\.json --device <MQTT Topic> --key <64 hex> creates it$/,
      ),
    ]);
    expect(missing.checks).toContainEqual(
      expect.stringMatching(/^warn {2}key file: checking --keys .*absent\.json, but the execd command reads .*pub_keys\.json$/),
    );

    writeFileSync(keys, '{"kitchen-fridge": ');
    const invalid = await doctor(['--config', config, '--as', ME]);
    expect(invalid.code).toBe(1);
    expect(invalid.failed).toEqual([expect.stringMatching(/^FAIL {2}keys: .*pub_keys\.json: .*JSON/)]);

    writeFileSync(keys, JSON.stringify({ a: KEY, b: 'abc', c: '01'.padEnd(64, '0') }));
    const refused = await doctor(['--config', config, '--as', ME]);
    expect(refused.code).toBe(1);
    expect(refused.failed).toEqual([
      expect.stringMatching(/^FAIL {2}keys: 2 refused: device "b": key .*; device "c": key .*; fix: .*keys list/),
    ]);
  });

  it('fails on a telegraf.conf without Time in json_string_fields or without skip_processors_after_aggregators', async () => {
    const noTime = install((t) => t.replace('json_string_fields = ["Signature", "Time"]', 'json_string_fields = ["Signature"]'));
    const a = await doctor(['--config', noTime.config, '--as', ME]);
    expect(a.code).toBe(1);
    expect(a.failed).toEqual([
      expect.stringMatching(/^FAIL {2}data format: json_string_fields lacks Time: .*fix: json_string_fields = \["Signature", "Time"\]$/),
    ]);

    const noSkip = install((t) => t.replace(/^\s*skip_processors_after_aggregators = true$/m, ''));
    const b = await doctor(['--config', noSkip.config, '--as', ME]);
    expect(b.code).toBe(1);
    expect(b.failed).toEqual([
      expect.stringMatching(
        /^FAIL {2}agent: skip_processors_after_aggregators is not set: .*fix: put skip_processors_after_aggregators = true under \[agent\]/,
      ),
    ]);
  });

  it('reads a telegraf.d folder with the main file, as Telegraf does', async () => {
    const { base, config } = install();
    const text = readFileSync(config, 'utf8');
    const cut = text.indexOf('###############################################################################\n# Input');
    const folder = join(base, 'telegraf.d');
    mkdirSync(folder);
    writeFileSync(config, text.slice(0, cut));
    writeFileSync(join(folder, 'meterproof.conf'), text.slice(cut));
    writeFileSync(join(folder, 'ignored.txt'), 'not toml');
    const r = await doctor(['--config', config, '--config', folder, '--as', ME]);
    expect(r.failed, r.stdout).toEqual([]);
    expect(r.stdout).toMatch(new RegExp(`^ok {4}config: read ${config}, ${folder}/meterproof\\.conf$`, 'm'));
  });

  it('fails a node the execd command names but that does not exist, and one not found on the PATH', async () => {
    const gone = install((t) => t.replace(JSON.stringify(process.execPath), '"/nonexistent/node"'));
    const a = await doctor(['--config', gone.config, '--as', ME]);
    expect(a.failed).toEqual([
      expect.stringMatching(/^FAIL {2}node: \/nonexistent\/node \(from the execd command\) does not exist; fix: install Node\.js 22 or 24/),
    ]);
    expect(a.checks).toContainEqual(expect.stringMatching(/^warn {2}processor: .* exists; not started, as there is no node/));
    const bare = install((t) => t.replace(JSON.stringify(process.execPath), '"node"'));
    const b = await doctor(['--config', bare.config, '--as', ME], { PATH: '/nonexistent' });
    expect(b.failed[0]).toMatch(/^FAIL {2}node: no "node" on your PATH \(\/nonexistent\)/);
  });

  it('reads the Telegraf version from `telegraf --version`', async () => {
    const { config } = install();
    const bin = join(dir, `bin-${++n}`);
    mkdirSync(bin);
    const telegraf = join(bin, 'telegraf');
    const PATH = `${bin}:${process.env.PATH}`;
    for (const [version, expected] of [
      ['1.29.5', /^FAIL {2}telegraf version: Telegraf 1\.29\.5 is older than 1\.30/],
      ['1.32.1', /^warn {2}telegraf version: Telegraf 1\.32\.1 reads the processor's output through a 256 KiB line buffer/],
      ['1.36.2', /^ok {4}telegraf version: Telegraf 1\.36\.2$/],
    ] as const) {
      writeFileSync(telegraf, `#!/bin/sh\necho "Telegraf ${version} (git: HEAD@0123abcd)"\n`, { mode: 0o755 });
      const r = await doctor(['--config', config, '--as', ME], { PATH });
      expect(r.checks.at(-1)).toMatch(expected);
      expect(r.code).toBe(version === '1.29.5' ? 1 : 0);
    }
  });

  it('checks without a configuration, saying so', async () => {
    const { keys, state } = install();
    const r = await doctor(['--keys', keys, '--state', join(state, 'state.json'), '--as', ME]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.checks[0]).toMatch(
      /^warn {2}config: no --config: Telegraf settings not checked; fix: add --config \/etc\/telegraf\/telegraf\.conf/,
    );
    expect(r.stdout).toMatch(/^ok {4}processor: .*dist\/processor\.js starts as /m);
  });

  it.runIf(ROOT)('without root, judges the account from mode bits, and says what it could not see instead of failing', () => {
    const { base, config, keys, state } = install();
    chmodSync(state, 0o700); // root's: nobody may not look inside
    const hidden = join(base, 'hidden');
    mkdirSync(hidden, { mode: 0o700 });
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        process.execPath,
        requireBuildForAll('meterproof.js'),
        'doctor',
        '--config',
        config,
        '--as',
        'root',
        '--keys',
        join(hidden, 'keys.json'),
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      /^meterproof doctor .*: checking as root \(uid 0\); not root, so access is judged from mode bits and programs run as nobody/,
    );
    expect(r.stdout).toMatch(
      /^warn {2}key file: cannot see .*hidden\/keys\.json as nobody \(EACCES\), so it is not checked; fix: run doctor with sudo$/m,
    );
    expect(r.stdout).toMatch(new RegExp(`^ok {4}state folder: ${state} is writable by root \\(you cannot look inside it`, 'm'));
    expect(r.stdout).toMatch(/^ok {4}processor: .* starts as nobody /m);
    expect(r.stdout).toContain(`but the execd command reads ${keys}`);
    expect(r.status, r.stdout).toBe(0);
  });
});
