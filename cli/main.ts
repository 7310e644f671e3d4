/** `meterproof <command>`: the tool for people (the processor itself is dist/processor.js). */
import type { Command } from './command';
import { UsageError, EXIT_USAGE } from './command';

const commands: Record<string, () => Promise<Command>> = {
  demo: async () => (await import('./demo')).demo,
  simulate: async () => (await import('./simulate')).simulate,
  keys: async () => (await import('./keys')).keys,
  audit: async () => (await import('./audit')).audit,
  state: async () => (await import('./state')).state,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines = await Promise.all(Object.entries(commands).map(async ([n, load]) => `  ${n.padEnd(10)} ${(await load()).summary}`));
    process.stdout.write(
      `Usage: meterproof <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`meterproof <command> --help\` for a command's options.\n`,
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
    if (e instanceof UsageError) {
      process.stderr.write(`meterproof ${name}: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`meterproof: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT_USAGE;
  },
);
