/**
 * The built programs' command lines: `--version` on both, and every bad option or value of a
 * `meterproof` command gives one line, `meterproof <command>: <problem> (try --help)`, and exit 2.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli';
import { requireBuild } from '../harness/processor';

const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
const dir = mkdtempSync(join(tmpdir(), 'meterproof-usage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--version', () => {
  it('meterproof --version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: `meterproof ${version}\n`, stderr: '' });
  });

  it('node dist/processor.js --version prints it too, and needs no --keys', () => {
    const r = spawnSync(process.execPath, [requireBuild('processor.js'), '--version'], { encoding: 'utf8' });
    expect(r).toMatchObject({ status: 0, stdout: `meterproof ${version}\n`, stderr: '' });
  });

  it("the processor still checks the flags' names with --version, so doctor can try the execd command", () => {
    const r = spawnSync(process.execPath, [requireBuild('processor.js'), '--keys', 'k.json', '--bogus', '--version'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^E! Unknown option '--bogus'/);
  });
});

describe('bad usage', () => {
  it.each([
    [['demo', '--rounds', '0'], 'demo: --rounds must be a whole number from 1 to 10000, got "0"'],
    [['demo', '--rounds', 'many'], 'demo: --rounds must be a whole number from 1 to 10000, got "many"'],
    [['demo', '--rounds'], 'demo: --rounds needs a value'],
    [['demo', '--processor', join(dir, 'missing.js')], `demo: --processor ${join(dir, 'missing.js')}: no such file`],
    [['demo', '--processor', dir], `demo: --processor ${dir}: no such file`],
    [['demo', '--frobnicate'], 'demo: unknown option --frobnicate'],
    [['demo', 'extra'], 'demo: unexpected argument "extra"'],
    [['demo', '--help=yes'], 'demo: --help takes no value'],
    [['keys', 'list', '--frobnicate'], 'keys: unknown option --frobnicate'],
    [['keys', 'list'], 'keys: --keys FILE is required'],
    [
      ['audit', '--url', 'http://127.0.0.1:1', '--db', 'x', '--keys', 'k.json', '--page-size', '0'],
      /^audit: --page-size must be a whole number/,
    ],
    [['audit', '--db'], 'audit: --db needs a value'],
    [['audit', '--url', 'http://127.0.0.1:1'], 'audit: --db is required'],
    [['simulate', '--qos', '9'], 'simulate: --qos must be 0, 1 or 2, got "9"'],
    [['simulate', '-x'], 'simulate: unknown option -x'],
    [['simulate', '--count', '-1'], /^simulate: --count needs a value \(a value starting with "-" is written --count=-VALUE\)$/],
    [['doctor', '--as', 'no-such-account-here'], 'doctor: --as: there is no account "no-such-account-here"'],
    [['doctor', '--keys'], 'doctor: --keys needs a value'],
    [['doctor', 'now'], 'doctor: unexpected argument "now"'],
  ] as const)('%j: one line and exit 2', async (args, problem) => {
    const r = await runCli(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines, r.stderr).toHaveLength(2); // one line, then the final newline
    expect(lines[1]).toBe('');
    const m = /^meterproof (.*) \(try --help\)$/.exec(lines[0]!);
    expect(m, lines[0]).not.toBeNull();
    if (typeof problem === 'string') expect(m![1]).toBe(problem);
    else expect(m![1]).toMatch(problem);
  });

  it('an unknown command says so in one line', async () => {
    const r = await runCli(['frobnicate']);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: 'meterproof: unknown command "frobnicate" (try --help)\n' });
  });

  it('the top-level help lists doctor and --version', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}doctor {4}/m);
    expect(r.stdout).toContain('meterproof --version');
  });
});
