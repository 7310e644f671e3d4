/** One `meterproof <command>`: a summary for the top-level help, and a runner returning the exit status. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { version } from '../package.json';

/** package.json's version, bundled into dist/meterproof.js at build time. */
export const VERSION: string = version;

export interface Command {
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

/** Exit status for "cannot run": bad arguments, unreachable service, refused credentials. */
export const EXIT_USAGE = 2;

/** The user's mistake: cli/main.ts prints it as one `meterproof <command>: <message> (try --help)` line, exit 2. */
export class UsageError extends Error {}

/** Not the user's mistake in typing the command but in the machine (a folder they may not write): no help hint. */
export class CannotRun extends UsageError {}

/** `parseArgs` whose errors are already UsageErrors. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw asUsageError(e) ?? e;
  }
}

/**
 * The one place where a thrown error becomes a usage error: a UsageError, or one of node:util
 * parseArgs's TypeErrors (codes ERR_PARSE_ARGS_*), reworded to one short line. Anything else is not
 * the user's mistake: undefined.
 */
export function asUsageError(e: unknown): UsageError | undefined {
  if (e instanceof UsageError) return e;
  const code = e instanceof TypeError ? (e as NodeJS.ErrnoException).code : undefined;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  return new UsageError(parseArgsProblem((e as Error).message));
}

/** Node's messages (20 to 24) made short: `Unknown option '--x'. To specify…` → `unknown option --x`. */
function parseArgsProblem(message: string): string {
  // "-r, --rounds" names both spellings; the long one is what the help shows.
  const option = (names: string) => names.split(', ').pop()!;
  let m;
  if ((m = /^Unknown option '([^']*)'/.exec(message))) return `unknown option ${m[1]}`;
  if ((m = /^Option '([^']*?)(?: <value>)?' argument missing/.exec(message))) return `${option(m[1]!)} needs a value`;
  if ((m = /^Option '([^']*?)(?: <value>)?' argument is ambiguous/.exec(message)))
    return `${option(m[1]!)} needs a value (a value starting with "-" is written ${option(m[1]!)}=-VALUE)`;
  if ((m = /^Option '([^']*)' does not take an argument/.exec(message))) return `${option(m[1]!)} takes no value`;
  if ((m = /^Unexpected argument '([^']*)'/.exec(message))) return `unexpected argument "${m[1]}"`;
  const first = message.split('\n')[0]!.replace(/\.$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}

/** The line printed for a usage error: one line, always ending in the hint. */
export function usageLine(command: string, e: UsageError): string {
  const problem = e.message
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\s*\(try --help\)$/, '')
    .trim();
  return `meterproof ${command}: ${problem}${e instanceof CannotRun ? '' : ' (try --help)'}\n`;
}
