/** `meterproof audit`: re-checks rows stored in InfluxDB against their stored `verified` tag. */
import { readFile } from 'node:fs/promises';
import { KeyFileError, parseKeyFile, type KeyFile } from '../core/keyfile';
import { loadVerifier } from '../core/node/verifier';
import { displayUrl, redactUrlsIn, withoutUrlSecrets } from '../audit/display-url';
import { countRows, InfluxUnavailable, ping, type InfluxTarget } from '../audit/influx-pager';
import { LIMITS, toJson, toTable } from '../audit/report';
import { DEFAULT_PAGE_SIZE, runAudit } from '../audit/run';
import { EXIT_USAGE, parseCommandArgs, UsageError, type Command } from './command';
import { statusLine } from './status-line';

const HELP = `Usage: meterproof audit --url URL --db NAME --keys FILE [options]

Reads every row of a measurement from InfluxDB's /query, page by page, and re-verifies each row that
carries a Signature: with its signed_message, or by rebuilding the message from Time and ENERGY_Total
(ENERGY_Total_0..n), or from the raw payload in exact mode. Reports, per device, the rows, the rows
that verify now, and every disagreement with the stored verified tag:
  - verified=true rows whose signature does not prove them (forged or altered in the database),
  - rows the processor rejected that verify now (except replay/rollback, valid by design),
  - rows whose signed_message does not match their Time and Total.
Every row is judged by its tags, read as "verified"::tag (never a field of the same name). Fields
named verified, verify_status, device or topic are reported as shadowed tags: InfluxQL that names
those tags without ::tag reads the field instead.

  --url URL            InfluxDB base URL, e.g. http://127.0.0.1:8086 (user info in it is
                       used, and printed as user:***)
  --db NAME            database (InfluxDB 2.x/3.x: the bucket mapped to it)
  --keys FILE          pub_keys.json, the same registry the processor uses
  --measurement NAME   (default mqtt_consumer)
  --json               one JSON document on stdout: devices, disagreements, shadowed, examples, stats
  --page-size N        rows per page read from InfluxDB (default ${DEFAULT_PAGE_SIZE})
  --username NAME      also from $INFLUX_USERNAME
  --password SECRET    also from $INFLUX_PASSWORD (prefer the variable: arguments show in ps)
                       A token (InfluxDB 2.x/3.x) is read from $INFLUX_TOKEN.

Exit status: 0 every row agrees with its stored verdict, 1 a disagreement or a shadowed tag,
2 cannot run (bad arguments, unreadable keys, InfluxDB unreachable or refusing the credentials,
no rows found).

${LIMITS}
`;

interface AuditArgs {
  readonly target: InfluxTarget;
  readonly keysPath: string;
  readonly measurement: string;
  readonly json: boolean;
  readonly pageSize: number;
}

export const audit: Command = {
  summary: 're-verify rows stored in InfluxDB and report disagreements with their verified tag',
  async run(args) {
    const a = parseOptions(args);
    if (a === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    const keys = await loadKeys(a.keysPath);
    const fail = (message: string) => {
      process.stderr.write(`meterproof audit: ${message}\n`);
      return EXIT_USAGE;
    };
    const progress = statusLine(process.stderr);
    try {
      await ping(a.target);
      // Counting costs a query of its own; only a terminal shows the bar that needs it.
      const total = process.stderr.isTTY ? await countRows(a.target, a.measurement) : 0;
      const started = Date.now();
      const result = await runAudit(a.target, a.measurement, keys, loadVerifier(), {
        pageSize: a.pageSize,
        onPage: (rows) => progress.update(bar(rows, total, (Date.now() - started) / 1000)),
      });
      progress.done();
      if (result.tally.rows === 0)
        return fail(`no rows in measurement "${a.measurement}" of database "${a.target.db}" (check --db and --measurement)`);
      const scope = { url: displayUrl(a.target.url), db: a.target.db, measurement: a.measurement };
      process.stdout.write(a.json ? toJson(scope, result) : toTable(scope, result));
      return result.tally.disagreements > 0 || result.shadowed.length > 0 ? 1 : 0;
    } catch (e) {
      progress.done();
      if (e instanceof InfluxUnavailable) return fail(withoutUrlSecrets(e.message, a.target.url));
      // Not ours: main.ts prints its message, which must not carry --url's user info either.
      if (e instanceof Error) e.message = withoutUrlSecrets(e.message, a.target.url);
      throw e;
    }
  },
};

function parseOptions(args: string[]): AuditArgs | 'help' {
  const text = { type: 'string' } as const;
  let v;
  try {
    v = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        url: text,
        db: text,
        keys: text,
        measurement: text,
        'page-size': text,
        username: text,
        password: text,
      },
    }).values;
  } catch (e) {
    // The parser quotes a stray argument, which may be a URL with a password in it.
    throw new UsageError(redactUrlsIn((e as Error).message));
  }
  if (v.help) return 'help';
  for (const name of ['url', 'db', 'keys'] as const) if (!v[name]) throw new UsageError(`--${name} is required`);
  const pageSize = Number(v['page-size'] ?? DEFAULT_PAGE_SIZE);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1_000_000)
    throw new UsageError(`--page-size must be a whole number from 1 to 1000000, got "${v['page-size']}"`);
  const username = v.username ?? process.env.INFLUX_USERNAME;
  const password = v.password ?? process.env.INFLUX_PASSWORD ?? '';
  const token = process.env.INFLUX_TOKEN;
  const auth = username !== undefined ? { username, password } : token ? { token } : undefined;
  return {
    target: { url: v.url!, db: v.db!, ...(auth && { auth }) },
    keysPath: v.keys!,
    measurement: v.measurement ?? 'mqtt_consumer',
    json: v.json ?? false,
    pageSize,
  };
}

async function loadKeys(path: string): Promise<KeyFile> {
  let keys: KeyFile;
  try {
    keys = parseKeyFile(await readFile(path, 'utf8'));
  } catch (e) {
    if (e instanceof KeyFileError) throw new UsageError(`--keys ${path}: ${e.message}`);
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new UsageError(`--keys ${path}: cannot read (${code})`);
    throw e;
  }
  // Rows of a device whose key was refused cannot be proven, so say why before the report.
  for (const r of keys.rejected) process.stderr.write(`meterproof audit: --keys ${path}: ignoring ${r.reason}\n`);
  return keys;
}

function bar(rows: number, total: number, seconds: number): string {
  const rate = `${Math.round(rows / Math.max(seconds, 1e-3)).toLocaleString('en-US')} rows/s`;
  if (total <= 0) return `audited ${rows.toLocaleString('en-US')} rows, ${rate}`;
  const done = Math.min(1, rows / total);
  const width = 30;
  const filled = Math.round(done * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(done * 100)}% ${rows.toLocaleString('en-US')}/${total.toLocaleString('en-US')} rows, ${rate}`;
}
