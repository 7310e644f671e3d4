/**
 * `meterproof keys enroll` (the built CLI) against fake plugs that serve the Information page as the
 * firmware does: plain, behind a web password, with the Referer check on, and without a Public Key row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get } from 'node:http';
import { join } from 'node:path';
import { deviceKey } from '../../sim/plug';
import { fingerprint } from '../../cli/keys';
import { completion, runCli, runCliOnTerminal, type CliResult } from '../harness/cli';
import { startFakePlug, type FakePlug } from '../harness/fake-plug';
import { freePort, requireBinary } from '../harness/ports';
import { requireBuild, tempDir } from '../harness/processor';

const dir = tempDir();
const k1 = deviceKey('enroll', 'one').publicKeyHex;
const k2 = deviceKey('enroll', 'two').publicKeyHex;
const PASSWORD = 'se cret:pw';
const plugs: FakePlug[] = [];
const plug = async (o: Parameters<typeof startFakePlug>[0]) => {
  const p = await startFakePlug(o);
  plugs.push(p);
  return p;
};
afterAll(async () => {
  await Promise.all(plugs.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
const keyFile = (content: unknown = {}) => {
  const f = join(dir, `keys-${++files}.json`);
  writeFileSync(f, JSON.stringify(content));
  return f;
};
const json = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
const enroll = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(['keys', 'enroll', ...args], { env: { TASMOTA_WEB_PASSWORD: undefined, ...env } });

/** Runs the CLI on a terminal and answers its question, if it asks one, with `answer`. */
async function onTerminalAnswering(args: string[], answer: string): Promise<CliResult> {
  await requireBinary('/usr/bin/script', 'bsdutils');
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, requireBuild('meterproof.js'), ...args].map(quote).join(' ');
  const proc = spawn('/usr/bin/script', ['-qfec', command, '/dev/null'], { stdio: 'pipe' });
  let seen = '';
  proc.stdout.on('data', (d: Buffer) => {
    seen += d.toString();
    if (seen.includes('[y/N]') && !seen.includes('\u0000answered')) {
      seen += '\u0000answered';
      proc.stdin.write(`${answer}\r`);
    }
  });
  return completion(proc, 30_000);
}

describe('meterproof keys enroll', () => {
  let kitchen: FakePlug;
  beforeAll(async () => {
    kitchen = await plug({ topic: 'kitchen', publicKeyHex: k1, friendlyName: 'Kitchen & Co' });
  });

  it("registers the page's key under its MQTT Topic: fingerprint, trust-on-first-use note and diff first, no question off a terminal", async () => {
    const file = keyFile();
    const r = await enroll(['--keys', file, '--plug', kitchen.url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`device "kitchen" (its MQTT Topic), firmware 28.3.1.6(tasmota)`);
    expect(r.stdout).toContain(`fingerprint ${fingerprint(k1)}`);
    expect(r.stdout).toMatch(/trust on first use over the local network/);
    expect(r.stdout).toContain(`kitchen: none → ${k1.slice(0, 12)}… (fingerprint ${fingerprint(k1)})`);
    expect(r.stdout.indexOf('none →')).toBeLessThan(r.stdout.indexOf('added key'));
    expect(r.stdout).not.toContain('[y/N]');
    const label = `enrolled from 127.0.0.1:${kitchen.port} on ${new Date().toISOString().slice(0, 10)}`;
    expect(json(file)).toEqual({ kitchen: [{ key: k1, label }] });
    expect(kitchen.requests.at(-1)).toMatchObject({ path: '/in', referer: `http://127.0.0.1:${kitchen.port}/` });

    const list = await runCli(['keys', 'list', '--keys', file]);
    expect(list.stdout).toMatch(new RegExp(`kitchen\\s+${fingerprint(k1)}\\s+.*active\\s+${label}`));

    // Again: nothing to do, nothing written.
    const before = readFileSync(file, 'utf8');
    const again = await enroll(['--keys', file, '--plug', kitchen.url]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already has this key/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('takes --device and a bare host:port, and keeps other devices as they were', async () => {
    const file = keyFile({ other: k2 });
    const r = await enroll(['--keys', file, '--plug', `127.0.0.1:${kitchen.port}`, '--device', 'kitchen-left', '--label', 'shelf']);
    expect(r.code).toBe(0);
    expect(json(file)).toEqual({ other: k2, 'kitchen-left': [{ key: k1, label: 'shelf' }] });
  });

  it('sends the web password as admin, from --web-password or $TASMOTA_WEB_PASSWORD; 401 is exit 2 with a clear line', async () => {
    const locked = await plug({ topic: 'locked', publicKeyHex: k1, webPassword: PASSWORD });
    const file = keyFile();
    const none = await enroll(['--keys', file, '--plug', locked.url]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /^meterproof keys enroll: http:\/\/127\.0\.0\.1:\d+\/in asks for the plug's web password: .*TASMOTA_WEB_PASSWORD\n$/,
    );
    const wrong = await enroll(['--keys', file, '--plug', locked.url, '--web-password', 'nope']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^meterproof keys enroll: .* refused the web password \(user admin\)\n$/);
    expect(json(file)).toEqual({});

    expect((await enroll(['--keys', file, '--plug', locked.url, '--web-password', PASSWORD])).code).toBe(0);
    expect(json(file).locked[0].key).toBe(k1);
    const viaEnv = keyFile();
    expect((await enroll(['--keys', viaEnv, '--plug', locked.url], { TASMOTA_WEB_PASSWORD: PASSWORD })).code).toBe(0);
    expect(json(viaEnv).locked[0].key).toBe(k1);
    expect(locked.requests.at(-1)!.authorization).toBe(`Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`);
  });

  it('passes the Referer check (SetOption128 0) by sending Referer: http://<host as in the URL>/', async () => {
    const guarded = await plug({ topic: 'guarded', publicKeyHex: k1, webPassword: PASSWORD, refererCheck: true, refusedCloseMs: 300 });
    // The fake plug refuses like the firmware: no Referer, no answer.
    const bare = await new Promise<string>((resolve) => {
      const auth = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
      get(`${guarded.url}/in`, { headers: { Authorization: auth } }, (res) => resolve(`HTTP ${res.statusCode}`)).on('error', (e) =>
        resolve(e.message),
      );
    });
    expect(bare).toBe('socket hang up');

    const file = keyFile();
    const r = await enroll(['--keys', file, '--plug', guarded.url, '--web-password', PASSWORD]);
    expect(r.code).toBe(0);
    expect(json(file).guarded[0].key).toBe(k1);
    expect(guarded.requests.at(-1)).toMatchObject({ referer: `http://127.0.0.1:${guarded.port}/`, answered: true });

    // By a name that is neither its hostname nor its IP, the plug gives no answer: exit 2 and why.
    const byName = await enroll(['--keys', keyFile(), '--plug', `http://localhost:${guarded.port}`, '--web-password', PASSWORD]);
    expect(byName.code).toBe(2);
    expect(byName.stderr).toMatch(
      /^meterproof keys enroll: http:\/\/localhost:\d+\/in closed the connection without an answer: .*Referer check.*\n$/,
    );
  });

  it('a page without a Public Key row: unsigned firmware, exit 1, nothing written', async () => {
    const unsigned = await plug({ topic: 'old-plug' });
    const file = keyFile({ other: k2 });
    const before = readFileSync(file, 'utf8');
    const r = await enroll(['--keys', file, '--plug', unsigned.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^meterproof keys enroll: http:\/\/127\.0\.0\.1:\d+\/in has no Public Key row: the plug runs unsigned firmware/,
    );
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('never replaces a different key: prints the exact rotate command, exit 1', async () => {
    const reset = await plug({ topic: 'kitchen', publicKeyHex: k2 });
    const file = keyFile({ kitchen: k1 });
    const before = readFileSync(file, 'utf8');
    const r = await enroll(['--keys', file, '--plug', reset.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`device "kitchen" has another key in ${file} (${fingerprint(k1)}); the plug now shows ${fingerprint(k2)}`);
    expect(r.stderr).toContain(`\n  meterproof keys rotate --keys ${file} --device kitchen --key ${k2}\n`);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('does not bring back a revoked key, exit 1; a refused entry for the device must be fixed first, exit 2', async () => {
    const revoked = keyFile({ kitchen: [{ key: k1, revoked: true }] });
    const before = readFileSync(revoked, 'utf8');
    const r = await enroll(['--keys', revoked, '--plug', kitchen.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`meterproof keys enroll: this key is revoked for device "kitchen" in ${revoked}; it is not registered again\n`);
    expect(readFileSync(revoked, 'utf8')).toBe(before);

    const refused = keyFile({ kitchen: 'ab'.repeat(32) });
    const bad = await enroll(['--keys', refused, '--plug', kitchen.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^meterproof keys enroll: .*: device "kitchen": key is not a valid Ed25519 point .*: fix or remove that entry first\n$/,
    );
  });

  it('exit 2 with one prefixed line: bad usage, unreachable plug, not an Information page, unusable key file', async () => {
    const file = keyFile();
    const cases: [string[], RegExp][] = [
      [['--keys', file], /--plug URL is required/],
      [['--plug', kitchen.url], /--keys FILE is required/],
      [['--keys', file, '--plug', kitchen.url, '--frobnicate'], /Unknown option '--frobnicate'/],
      [['--keys', file, '--plug', 'ftp://1.2.3.4'], /--plug: "ftp:\/\/1\.2\.3\.4" is not an http:\/\/ address/],
      [
        ['--keys', file, '--plug', `http://127.0.0.1:${await freePort()}`],
        /cannot read http:\/\/127\.0\.0\.1:\d+\/in: connect ECONNREFUSED/,
      ],
    ];
    const web = createServer((_, res) => res.end('<html>a router</html>'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const { port } = web.address() as { port: number };
    cases.push([['--keys', file, '--plug', `http://127.0.0.1:${port}`], /\/in: this is not a Tasmota Information page/]);
    try {
      for (const [args, message] of cases) {
        const r = await enroll(args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toMatch(/^meterproof keys enroll: [^\n]+\n$/);
        expect(r.stderr).toMatch(message);
      }
    } finally {
      web.close();
    }
    expect(json(file)).toEqual({});
  });

  it('on a terminal: asks before writing, and writes only on yes; --yes does not ask', async () => {
    const file = keyFile();
    const no = await onTerminalAnswering(['keys', 'enroll', '--keys', file, '--plug', kitchen.url], 'n');
    expect(no.stdout).toContain('Write this change? [y/N]');
    expect(no.stdout).toContain('not written');
    expect(no.code).toBe(1);
    expect(json(file)).toEqual({});

    const yes = await onTerminalAnswering(['keys', 'enroll', '--keys', file, '--plug', kitchen.url], 'y');
    expect(yes.code).toBe(0);
    expect(json(file).kitchen[0].key).toBe(k1);

    const other = keyFile();
    const skip = await runCliOnTerminal(['keys', 'enroll', '--keys', other, '--plug', kitchen.url, '--yes']);
    expect(skip.code).toBe(0);
    expect(skip.stdout).not.toContain('[y/N]');
    expect(json(other).kitchen[0].key).toBe(k1);
  });
});
