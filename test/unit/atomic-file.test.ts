/** Temp files beside the state, lock and key files: exclusive, never through a planted symlink, never left behind. */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExclusive, writeAtomic } from '../../core/node/atomic-file';

const dir = mkdtempSync(join(tmpdir(), 'meterproof-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const suffixes =
  (...names: string[]) =>
  () =>
    names.shift() ?? 'exhausted';

describe('atomic file writes', () => {
  it('skips a symlink planted at the temp path instead of following it', () => {
    const target = join(dir, 'state.json');
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, `${target}.tmp.planted`);
    writeAtomic(target, '{"version":1}', { suffix: suffixes('planted', 'fresh') });
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(target).isFile()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('{"version":1}');
    expect(lstatSync(`${target}.tmp.planted`).isSymbolicLink()).toBe(true);
  });

  it('never creates the target of a dangling symlink, and gives up after a few clashes', () => {
    const prefix = join(dir, 'lock');
    const nowhere = join(dir, 'created-through-link');
    symlinkSync(nowhere, `${prefix}.x`);
    expect(() => createExclusive(prefix, 0o644, () => 'x')).toThrow(/EEXIST/);
    expect(existsSync(nowhere)).toBe(false);
  });

  it('leaves no temp file behind when the rename fails', () => {
    const folder = join(dir, 'occupied');
    mkdirSync(join(folder, 'target'), { recursive: true });
    writeFileSync(join(folder, 'target', 'inside'), '');
    expect(() => writeAtomic(join(folder, 'target'), 'x')).toThrow();
    expect(readdirSync(folder)).toEqual(['target']);
  });
});
