/**
 * Running a measurement on one chosen core. The cores of a shared machine need not be equally fast
 * (on the 2-core machines this project is built on, one verifies about 35 % faster than the other,
 * steadily), so a single-core baseline taken on whichever core the scheduler picked would make every
 * ratio a coin toss. Baselines are therefore measured per core, pinned with `taskset`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
export const cores = availableParallelism();

/** The command line that runs `cmd` on `core` (unpinned when taskset is missing). */
export function onCore(core: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return core === undefined || !hasTaskset ? [cmd, args] : ['taskset', ['-c', String(core), cmd, ...args]];
}

/** Runs a command to completion and answers its stdout, failing loudly. */
export function output(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '',
      err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}
