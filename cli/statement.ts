/** `meterproof statement create|verify`: verified consumption over a period, as a statement anyone can check. */
import { UsageError, type Command } from './command';
import { createCommand, CREATE_HELP } from './statement/create-command';
import { verifyCommand, VERIFY_HELP } from './statement/verify-command';

const HELP = `Usage: meterproof statement <create|verify> [options]

  create   read a device's signed readings from InfluxDB and write a statement of the energy
           they prove over a period (JSON, and optionally one A4 HTML page)
  verify   check a statement offline: every signature, the arithmetic, the segments and gaps

Run \`meterproof statement <create|verify> --help\` for the options. See docs/statements.md.

${CREATE_HELP}
${VERIFY_HELP}`;

export const statement: Command = {
  summary: 'make or check a statement of verified consumption over a period (signed readings, offline check)',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'create') return createCommand(rest);
    if (sub === 'verify') return verifyCommand(rest);
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      process.stdout.write(HELP);
      return sub === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown statement command "${sub}" (create, verify)`);
  },
};
