/** `meterproof <command>`: the tool for people (the processor itself is dist/processor.js). */
import type { Command } from './command';
import { asUsageError, EXIT_USAGE, usageLine, VERSION } from './command';

const commands: Record<string, () => Promise<Command>> = {
  demo: async () => (await import('./demo')).demo,
  simulate: async () => (await import('./simulate')).simulate,
  keys: async () => (await import('./keys')).keys,
  audit: async () => (await import('./audit')).audit,
  doctor: async () => (await import('./doctor')).doctor,
  statement: async () => (await import('./statement')).statement,
  state: async () => (await import('./state')).state,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version') {
    process.stdout.write(`meterproof ${VERSION}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines = await Promise.all(Object.entries(commands).map(async ([n, load]) => `  ${n.padEnd(10)} ${(await load()).summary}`));
    process.stdout.write(
      `Usage: meterproof <command> [options]\n       meterproof --version\n\nCommands:\n${lines.join('\n')}\n\n` +
        `Run \`meterproof <command> --help\` for a command's options.\n`,
    );
    return name ? 0 : EXIT_USAGE;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`meterproof: unknown command "${name}" (try --help)\n`);
    return EXIT_USAGE;
  }
  try {
    return await (await load()).run(rest);
  } catch (e) {
    const usage = asUsageError(e);
    if (usage) {
      process.stderr.write(usageLine(name, usage));
      return EXIT_USAGE;
    }
    // Not the user's mistake, but still one line rather than a stack trace.
    process.stderr.write(`meterproof ${name}: ${oneLine(e)}\n`);
    return EXIT_USAGE;
  }
}

const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');

// `meterproof … | head`: a reader that stops early ends the output, not with a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit();
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`meterproof: ${oneLine(e)}\n`);
    process.exitCode = EXIT_USAGE;
  },
);
