/**
 * `meterproof state export|import|show`: the replay memory, in a state file or Redis. The work is done
 * by the processor bundle beside this file (`processor.js state …`), which holds the state formats
 * and the Redis client: one implementation, and cli/ stays clear of processor internals.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './command';
import { EXIT_USAGE } from './command';

export const state: Command = {
  summary: 'export, import or show the replay memory (state file or Redis)',
  run(args) {
    const processor = join(__dirname, 'processor.js');
    if (!existsSync(processor)) {
      process.stderr.write(`meterproof state: ${processor} is missing (it does the work; run \`npm run build\`)\n`);
      return Promise.resolve(EXIT_USAGE);
    }
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [processor, 'state', ...args], { stdio: 'inherit' });
      child.on('error', () => resolve(EXIT_USAGE));
      child.on('close', (code) => resolve(code ?? EXIT_USAGE));
    });
  },
};
