/** `meterproof keys`: list, check, add and revoke, on a real file, through the built CLI. */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deviceKey } from '../../sim/plug';
import { fingerprint } from '../../cli/keys';
import { runCli } from '../harness/cli';
import { tempDir } from '../harness/processor';

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
