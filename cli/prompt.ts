/** A yes/no question for people at a terminal; scripts and CI (stdin not a terminal) are never asked. */
import { createInterface } from 'node:readline';

/**
 * True when the change may go ahead: `yes` (the `--yes` flag) or stdin not a terminal answer for the
 * person; otherwise the question is asked and only "y" or "yes" agree. Ctrl-C or end of input decline.
 */
export function confirm(question: string, yes = false): Promise<boolean> {
  if (yes || !process.stdin.isTTY) return Promise.resolve(true);
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    let answer: string | undefined;
    rl.once('SIGINT', () => {
      process.stdout.write('\n');
      rl.close();
    });
    rl.once('close', () => resolve(answer !== undefined && /^y(es)?$/i.test(answer.trim())));
    rl.question(`${question} [y/N] `, (a) => {
      answer = a;
      rl.close();
    });
  });
}
