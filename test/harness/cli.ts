/** Runs the built `meterproof` CLI (dist/meterproof.js) as a user would, with plain `node`. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { requireBinary } from './ports';
import { requireBuild } from './processor';

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export async function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ChildProcessWithoutNullStreams> {
  return spawn(process.execPath, [await requireBuild('meterproof.js'), ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
}

/** Collects a spawned CLI's output until it exits; kills it after `timeoutMs`. */
export function completion(proc: ChildProcessWithoutNullStreams, timeoutMs = 60_000): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export async function runCli(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const proc = await spawnCli(args, opts.env);
  proc.stdin.end();
  return completion(proc, opts.timeoutMs);
}

/** Runs the CLI on a pseudo-terminal (util-linux `script`); stdout is everything the terminal showed. */
export async function runCliOnTerminal(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  await requireBinary('/usr/bin/script', 'bsdutils');
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, await requireBuild('meterproof.js'), ...args].map(quote).join(' ');
  return completion(spawn('/usr/bin/script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: 'pipe' }));
}
