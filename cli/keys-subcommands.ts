/**
 * The `meterproof keys` subcommands that live in files of their own (enroll, discover, rotate). Each
 * failure is one line, `meterproof keys <sub>: …`, and exit 2: never a stack trace.
 */
import { EXIT_USAGE } from './command';

const SUBCOMMANDS: Record<string, () => Promise<(args: string[]) => Promise<number>>> = {
  enroll: async () => (await import('./keys-enroll')).enroll,
  discover: async () => (await import('./keys-discover')).discover,
  rotate: async () => (await import('./keys-rotate')).rotate,
};

/** Options of any `keys` subcommand that take a value: the word after them is not the subcommand. */
const VALUE_OPTIONS = new Set([
  'keys',
  'device',
  'key',
  'fingerprint',
  'not-before',
  'not-after',
  'label',
  'plug',
  'web-password',
  'mqtt',
  'username',
  'password',
  'wait',
  'at',
]);

/** Where the subcommand word is in `args`, when it names one of these subcommands. */
export function keysSubcommandAt(args: readonly string[]): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return -1;
    if (a.startsWith('-')) {
      if (a.startsWith('--') && !a.includes('=') && VALUE_OPTIONS.has(a.slice(2))) i++;
      continue;
    }
    return Object.hasOwn(SUBCOMMANDS, a) ? i : -1;
  }
  return -1;
}

export async function runKeysSubcommand(args: readonly string[], at: number): Promise<number> {
  const name = args[at]!;
  const rest = [...args.slice(0, at), ...args.slice(at + 1)];
  try {
    return await (
      await SUBCOMMANDS[name]!()
    )(rest);
  } catch (e) {
    process.stderr.write(`meterproof keys ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_USAGE;
  }
}
