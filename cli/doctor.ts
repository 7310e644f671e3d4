/**
 * `meterproof doctor`: before and after install, checks that Telegraf can run the processor as
 * configured, as the account Telegraf runs as. One line per check; exit 0 when none fails.
 */
import { join } from 'node:path';
import { parseCommandArgs, UsageError, VERSION, type Command } from './command';
import { AccountAccess, currentAccount, lookupAccount } from './doctor/account';
import {
  checkKeyFile,
  checkNodePath,
  checkNodeVersion,
  checkProcessor,
  checkSodium,
  checkStateFolder,
  checkTelegrafVersion,
} from './doctor/checks';
import { fail, formatFinding, ok, summary, warn, type Finding } from './doctor/finding';
import { checkConfig, ConfigError, configFiles, mergeConfigs, parseConfigFile, type ConfigReport, type Table } from './doctor/telegraf';

const HELP = `Usage: meterproof doctor [--config FILE|DIR]... [--keys FILE] [--state FILE] [--as USER]

Checks, before and after install, what Telegraf needs to run the meterproof processor, as the account
Telegraf runs as: Node.js (20 or later; 22 or 24 LTS recommended) and the node of the execd command,
the processor starting with that command's flags, sodium-native, the key file (readable, valid), the
state folder (writable), the Telegraf configuration, and \`telegraf --version\`. One line per check:
ok, warn or FAIL, with the fix.

  --config FILE|DIR  Telegraf's configuration: a file, or a folder of *.conf files (telegraf.d);
                     repeat it for both. node, --keys and --state then come from the
                     [[processors.execd]] command that runs processor.js.
  --keys FILE        the key file to check (default: the execd command's --keys)
  --state FILE       the state file whose folder to check (default: the execd command's --state)
  --as USER          the account Telegraf runs as (default: telegraf if it exists, else you)

Run it as root (sudo) to check as another account exactly: it then reads and runs as that account.
Without root, access is judged from mode bits and programs run as you.

Exit status: 0 when no check failed (warnings allowed), 1 when one failed, 2 on bad usage.
`;

export const doctor: Command = {
  summary: 'check node, the processor, keys, state folder and telegraf.conf as Telegraf would use them',
  async run(args) {
    const { values: v } = parseCommandArgs({
      args,
      strict: true,
      options: {
        config: { type: 'string', multiple: true },
        keys: { type: 'string' },
        state: { type: 'string' },
        as: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (v.help) {
      process.stdout.write(HELP);
      return 0;
    }
    for (const [flag, value] of [
      ['--keys', v.keys],
      ['--state', v.state],
      ['--as', v.as],
      ...(v.config ?? []).map((c) => ['--config', c] as const),
    ] as const)
      if (value === '') throw new UsageError(`${flag} needs a value`);
    const account = v.as === undefined ? (lookupAccount('telegraf') ?? currentAccount()) : lookupAccount(v.as);
    if (!account) throw new UsageError(`--as: there is no account "${v.as}"`);
    const access = new AccountAccess(account);

    const me = currentAccount().name;
    process.stdout.write(
      `meterproof doctor ${VERSION}: checking as ${account.name} (uid ${account.uid})` +
        (access.how === 'bits' ? `; not root, so access is judged from mode bits and programs run as ${me} (sudo checks exactly)` : '') +
        '\n',
    );

    const config = v.config?.length ? loadConfig(v.config, access) : undefined;
    const execd = config?.report?.execd;
    const cli = `node ${process.argv[1] ?? 'dist/meterproof.js'}`;

    const findings: Finding[] = [];
    const emit = (...f: Finding[]) => {
      for (const one of f) process.stdout.write(formatFinding(one));
      findings.push(...f);
    };

    emit(
      config
        ? config.finding
        : warn(
            'config',
            'no --config: Telegraf settings not checked',
            'add --config /etc/telegraf/telegraf.conf --config /etc/telegraf/telegraf.d',
          ),
    );
    const { finding: nodeFinding, node } = checkNodePath(execd?.node ?? 'node', access, execd !== undefined);
    emit(nodeFinding);
    if (node) emit(checkNodeVersion(node, access));
    const processor = execd?.processor ?? join(__dirname, 'processor.js');
    emit(checkProcessor(processor, node, execd ? execd.command.slice(1) : [processor], access, VERSION, execd !== undefined));
    emit(checkSodium(processor));

    const keys = v.keys ?? execd?.keys;
    if (keys === undefined) emit(fail('key file', 'none to check', 'give --keys FILE, or --config with the [[processors.execd]] command'));
    else {
      if (v.keys !== undefined && execd?.keys !== undefined && execd.keys !== v.keys)
        emit(warn('key file', `checking --keys ${v.keys}, but the execd command reads ${execd.keys}`));
      emit(...checkKeyFile(keys, access, cli));
    }

    const state = v.state ?? execd?.state;
    if (state === undefined)
      emit(
        warn(
          'state folder',
          'no --state: the processor forgets the last accepted reading of each device when it restarts, ' +
            'so a replay is caught only within one run',
          'add "--state", "/var/lib/meterproof/state.json" to the execd command',
        ),
      );
    else emit(checkStateFolder(state, access));

    if (config?.report) emit(...config.report.findings);
    emit(checkTelegrafVersion());

    process.stdout.write(summary(findings));
    return findings.some((f) => f.level === 'FAIL') ? 1 : 0;
  },
};

/**
 * Reads every file Telegraf would and checks the merged configuration. A file the account cannot read
 * fails the check, but doctor still reads it as itself so that the other checks can go on.
 */
function loadConfig(paths: readonly string[], access: AccountAccess): { finding: Finding; report?: ConfigReport } {
  const { name } = access.account;
  const tables: Table[] = [];
  const read: string[] = [];
  let problem: Finding | undefined;
  for (const path of paths) {
    let files: string[];
    try {
      files = configFiles(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problem ??= fail('config', code === 'ENOENT' ? `${path} does not exist` : `cannot read ${path} (${code})`);
      continue;
    }
    for (const file of files) {
      if (!access.can(file, 'read'))
        problem ??= fail('config', `${file} is not readable by ${name}, so Telegraf cannot start`, `make it readable by ${name}`);
      try {
        tables.push(parseConfigFile(file));
        read.push(file);
      } catch (e) {
        if (!(e instanceof ConfigError) && !(e as NodeJS.ErrnoException).code) throw e;
        problem ??= fail('config', `${file}: ${(e as Error).message}`);
      }
    }
  }
  if (!read.length) return { finding: problem ?? fail('config', `no *.conf file in ${paths.join(', ')}`) };
  return { finding: problem ?? ok('config', `read ${read.join(', ')}`), report: checkConfig(mergeConfigs(tables)) };
}
