/** `meterproof keys`: list, check, add and revoke, on a real file, through the built CLI. */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deviceKey } from '../../sim/plug';
import { fingerprint } from '../../cli/keys';
import { completion, runCli } from '../harness/cli';
import { requireBuild, requireBuildForAll, tempDir } from '../harness/processor';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const k1 = deviceKey('cli', 'one').publicKeyHex;
const k2 = deviceKey('cli', 'two').publicKeyHex;

describe('meterproof keys', () => {
  const file = join(dir, 'pub_keys.json');

  it('adds a key after a hard reset, turning a legacy entry into a list, and lists fingerprints', async () => {
    writeFileSync(file, JSON.stringify({ plug: k1 }));
    const add = await runCli([
      'keys',
      'add',
      '--keys',
      file,
      '--device',
      'plug',
      '--key',
      k2,
      '--not-before',
      '2025-04-01',
      '--label',
      'after reset',
    ]);
    expect(add.code).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      plug: [{ key: k1 }, { key: k2, not_before: '2025-04-01', label: 'after reset' }],
    });
    const list = await runCli(['keys', 'list', '--keys', file]);
    expect(list.stdout).toContain(fingerprint(k1));
    expect(list.stdout).toMatch(new RegExp(`plug\\s+${fingerprint(k2)}\\s+${k2.slice(0, 12)}…\\s+2025-04-01T00:00:00 to …\\s+active`));
  });

  it('revokes by fingerprint', async () => {
    const r = await runCli(['keys', 'revoke', '--keys', file, '--device', 'plug', '--fingerprint', fingerprint(k1)]);
    expect(r.code).toBe(0);
    expect((await runCli(['keys', 'list', '--keys', file])).stdout).toMatch(new RegExp(`${fingerprint(k1)}.*REVOKED`));
  });

  it('refuses to add a weak key, and leaves the file alone', async () => {
    const before = readFileSync(file, 'utf8');
    const r = await runCli(['keys', 'add', '--keys', file, '--device', 'evil', '--key', `01${'00'.repeat(31)}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has small order/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('checks a file: 0 when every key is admitted, 1 when some are refused, 2 when unusable', async () => {
    expect((await runCli(['keys', 'check', '--keys', file])).code).toBe(0);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ a: k1, b: 'nothex' }));
    const r = await runCli(['keys', 'check', '--keys', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused: device "b": key is not 32 bytes of hex/);
    writeFileSync(bad, '{ nope');
    expect((await runCli(['keys', 'check', '--keys', bad])).code).toBe(2);
  });
});

describe('meterproof keys writes a file the processor can read', () => {
  const k3 = deviceKey('cli', 'three').publicKeyHex;
  const modeOf = (p: string) => statSync(p).mode & 0o777;
  /** The CLI under a strict umask, as an admin's root shell may have. */
  const underUmask077 = (args: string[]) => {
    const proc = spawn('/bin/sh', ['-c', 'umask 077 && exec "$0" "$@"', process.execPath, requireBuild('meterproof.js'), ...args]);
    proc.stdin.end();
    return completion(proc);
  };
  /** Root may write anywhere, so an unwritable folder is tested as `nobody`; others just chmod. */
  const asRoot = process.getuid?.() === 0;
  const unprivileged = (args: string[]) => {
    const proc = spawn(process.execPath, [requireBuildForAll('meterproof.js'), ...args], { ...(asRoot && { uid: 65534, gid: 65534 }) });
    proc.stdin.end();
    return completion(proc);
  };

  it('keeps mode 0644 under umask 077', async () => {
    const file = join(dir, 'umask.json');
    writeFileSync(file, JSON.stringify({ plug: k1 }));
    chmodSync(file, 0o644);
    const add = await underUmask077(['keys', 'add', '--keys', file, '--device', 'plug', '--key', k2]);
    expect(add.code).toBe(0);
    expect(modeOf(file).toString(8)).toBe('644');
    const revoke = await underUmask077(['keys', 'revoke', '--keys', file, '--device', 'plug', '--key', k1]);
    expect(revoke.code).toBe(0);
    expect(modeOf(file).toString(8)).toBe('644');
  });

  it('creates a missing key file and its folders (0644, 0755) under umask 077', async () => {
    const file = join(dir, 'etc', 'telegraf', 'pub_keys.json');
    const r = await underUmask077(['keys', 'add', '--keys', file, '--device', 'fresh', '--key', k3]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ fresh: [{ key: k3 }] });
    expect(modeOf(file).toString(8)).toBe('644');
    expect(modeOf(join(dir, 'etc')).toString(8)).toBe('755');
    expect(modeOf(join(dir, 'etc', 'telegraf')).toString(8)).toBe('755');
  });

  it('says in one line why it cannot write into a folder it may not write, and exits 2', async () => {
    const folder = join(dir, 'locked');
    mkdirSync(folder);
    chmodSync(dir, 0o755);
    chmodSync(folder, asRoot ? 0o755 : 0o555);
    const existing = join(folder, 'pub_keys.json');
    writeFileSync(existing, JSON.stringify({ plug: k1 }));
    chmodSync(existing, 0o644);
    for (const [file, folderNamed] of [
      [existing, folder],
      [join(folder, 'missing.json'), folder],
      [join(folder, 'sub', 'pub_keys.json'), folder],
    ] as const) {
      const r = await unprivileged(['keys', 'add', '--keys', file, '--device', 'plug', '--key', k3]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `meterproof keys: cannot write ${file}: permission denied (run with sudo, or as the owner of ${folderNamed})\n`,
      );
    }
    expect(JSON.parse(readFileSync(existing, 'utf8'))).toEqual({ plug: k1 });
  });
});
