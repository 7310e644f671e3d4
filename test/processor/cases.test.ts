/**
 * Telegraf-style data-driven cases: every folder of test/cases runs through the built dist/processor.js
 * and must come out byte for byte as its expected.lp. A folder holds
 * - `keys.json`: the key file (`--keys`);
 * - `input.lp`: line protocol exactly as Telegraf writes it to the processor's stdin;
 * - `expected.lp`: exactly what the processor must write;
 * - `README.md`: one line saying what the case shows;
 * - optionally `args`: extra command-line arguments, one per line.
 * A case is added with no code (test/cases/generate.ts shows how the first ones were made).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProcessor } from '../harness/processor';

const CASES = join(__dirname, '..', 'cases');
const REQUIRED = ['keys.json', 'input.lp', 'expected.lp', 'README.md'];
const OPTIONAL = ['args'];
const names = readdirSync(CASES, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

describe('test/cases through dist/processor.js', () => {
  it('finds the cases', () => {
    expect(names.length).toBeGreaterThanOrEqual(8);
  });

  it.each(names)('case %s', async (name) => {
    const dir = join(CASES, name);
    const files = readdirSync(dir);
    expect(
      REQUIRED.filter((f) => !files.includes(f)),
      `test/cases/${name} lacks files`,
    ).toEqual([]);
    expect(
      files.filter((f) => !REQUIRED.includes(f) && !OPTIONAL.includes(f)),
      `test/cases/${name} has files no case reads`,
    ).toEqual([]);
    const argsFile = join(dir, 'args');
    const args = existsSync(argsFile)
      ? readFileSync(argsFile, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
      : [];
    const expected = readFileSync(join(dir, 'expected.lp'));

    const r = await runProcessor(['--keys', join(dir, 'keys.json'), ...args], readFileSync(join(dir, 'input.lp')));

    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString('latin1')).toBe(expected.toString('latin1')); // a readable diff, every byte kept
    expect(r.stdout.equals(expected)).toBe(true);
  });
});
