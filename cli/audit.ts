/** `meterproof audit`: re-checks rows stored in InfluxDB against their stored `verified` tag. */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { KeyFileError, parseKeyFile, type KeyFile } from '../core/keyfile';
import { loadVerifier } from '../core/node/verifier';
import { displayUrl, withoutUrlSecrets } from '../audit/display-url';
import { countRows, InfluxUnavailable, ping, type InfluxTarget } from '../audit/influx-pager';
import type { VerifiedLater } from '../audit/late-keys';
import { LIMITS, retagLines, toJson, toTable, type AuditScope, type RetagOutcome } from '../audit/report';
import { RetagFailed, retag } from '../audit/retag';
import { DEFAULT_PAGE_SIZE, runAudit } from '../audit/run';
import { EXIT_USAGE, UsageError, type Command } from './command';
import { INFLUX_READ_OPTIONS, influxAuth, parseInfluxCommandArgs } from './influx-options';
import { statusLine } from './status-line';

const HELP = `Usage: meterproof audit --url URL --db NAME --keys FILE [options]

Reads every row of a measurement from InfluxDB's /query, page by page, and re-verifies each row that
carries a Signature: with its signed_message, or by rebuilding the message from Time and ENERGY_Total
(ENERGY_Total_0..n), or from the raw payload in exact mode. Reports, per device, the rows, the rows
that verify now, and every disagreement with the stored verified tag:
  - verified=true rows whose signature does not prove them (forged or altered in the database),
  - rows the processor rejected that verify now (except replay/rollback, valid by design),
  - rows whose signed_message does not match their Time and Total.
Rows the processor rejected (bad_signature, unknown_device) that verify under a key registered
after they arrived (a key with not_before, e.g. after a hard reset and keys rotate, that no stored
verified row of the device used before them) are listed apart as "verified later", and are not
disagreements. --retag rewrites those that would have been ok in order as verified.
Every row is judged by its tags, read as "verified"::tag (never a field of the same name). Fields
named verified, verify_status, device or topic are reported as shadowed tags: InfluxQL that names
those tags without ::tag reads the field instead.

  --url URL            InfluxDB base URL, e.g. http://127.0.0.1:8086 (user info in it is
                       used, and printed as user:***)
  --db NAME            database (InfluxDB 2.x/3.x: the bucket mapped to it)
  --keys FILE          pub_keys.json, the same registry the processor uses
  --measurement NAME   (default mqtt_consumer)
  --json               one JSON document on stdout: devices, disagreements, shadowed,
                       verifiedLater, examples, stats (and retagged, with --retag)
  --page-size N        rows per page read from InfluxDB (default ${DEFAULT_PAGE_SIZE})
  --retag              after the report, rewrite the re-taggable verified-later rows: the same
                       measurement, tags, fields and time, with verified=true, verify_status=ok
                       and signed_message; then delete the old points (InfluxDB 1.x; needs write
                       access). Asks on a terminal; otherwise needs --yes.
  --yes                re-tag without asking
  --username NAME      also from $INFLUX_USERNAME
  --password SECRET    also from $INFLUX_PASSWORD (prefer the variable: arguments show in ps)
                       A token (InfluxDB 2.x/3.x) is read from $INFLUX_TOKEN.

Exit status: 0 every row agrees or is verified later, 1 a disagreement or a shadowed tag,
2 cannot run (bad arguments, unreadable keys, InfluxDB unreachable or refusing the credentials,
no rows found, --retag without --yes when stdin is not a terminal, a re-tag InfluxDB refused).

${LIMITS}
`;

interface AuditArgs {
  readonly target: InfluxTarget;
  readonly keysPath: string;
  readonly measurement: string;
  readonly json: boolean;
  readonly pageSize: number;
  readonly retag: boolean;
  readonly yes: boolean;
}

export const audit: Command = {
  summary: 're-verify rows stored in InfluxDB and report disagreements with their verified tag',
  async run(args) {
    const a = parseOptions(args);
    if (a === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    const fail = (message: string) => {
      process.stderr.write(`meterproof audit: ${message}\n`);
      return EXIT_USAGE;
    };
    // Never a prompt nobody can answer: a pipe or a cron job must say --yes.
    if (a.retag && !a.yes && !process.stdin.isTTY)
      return fail('--retag rewrites rows in InfluxDB, and stdin is not a terminal to confirm on: add --yes to re-tag without asking');
    const keys = await loadKeys(a.keysPath);
    const progress = statusLine(process.stderr);
    try {
      await ping(a.target);
      // Counting costs a query of its own; only a terminal shows the bar that needs it.
      const total = process.stderr.isTTY ? await countRows(a.target, a.measurement) : 0;
      const started = Date.now();
      const result = await runAudit(a.target, a.measurement, keys, loadVerifier(), {
        pageSize: a.pageSize,
        onPage: (rows) => progress.update(bar(rows, total, (Date.now() - started) / 1000)),
        retag: a.retag,
      });
      progress.done();
      if (result.tally.rows === 0)
        return fail(`no rows in measurement "${a.measurement}" of database "${a.target.db}" (check --db and --measurement)`);
      const scope = { url: displayUrl(a.target.url), db: a.target.db, measurement: a.measurement };
      const status = result.tally.disagreements > 0 || result.shadowed.length > 0 ? 1 : 0;
      if (!a.retag) {
        process.stdout.write(a.json ? toJson(scope, result) : toTable(scope, result));
        return status;
      }
      // The table comes first, so that whoever confirms has read it; the JSON document says what was done.
      if (!a.json) process.stdout.write(toTable(scope, result));
      const outcome = await retagRows(a, scope, result.verifiedLater?.filter((v) => v.left === undefined) ?? [], progress);
      progress.done();
      process.stdout.write(a.json ? toJson(scope, result, outcome) : retagLines(scope, outcome));
      if (outcome.error !== undefined) return fail(`--retag: ${withoutUrlSecrets(outcome.error, a.target.url)}`);
      return status;
    } catch (e) {
      progress.done();
      if (e instanceof InfluxUnavailable) return fail(withoutUrlSecrets(e.message, a.target.url));
      // Not ours: main.ts prints its message, which must not carry --url's user info either.
      if (e instanceof Error) e.message = withoutUrlSecrets(e.message, a.target.url);
      throw e;
    }
  },
};

/** Asks (on a terminal, unless --yes), then rewrites the rows; a refusal from InfluxDB is reported, not thrown. */
async function retagRows(
  a: AuditArgs,
  scope: AuditScope,
  rows: readonly VerifiedLater[],
  progress: ReturnType<typeof statusLine>,
): Promise<RetagOutcome> {
  if (rows.length === 0) return { done: [] };
  const question =
    `Re-tag ${rows.length.toLocaleString('en-US')} verified-later rows in "${scope.measurement}" of database "${scope.db}" at ` +
    `${scope.url} (write them again as verified=true, verify_status=ok; delete the old points)? [y/N] `;
  if (!a.yes && !(await confirm(question))) return { done: [], declined: true };
  const of = rows.length.toLocaleString('en-US');
  try {
    return {
      done: await retag(a.target, a.measurement, rows, (n) => progress.update(`re-tagged ${n.toLocaleString('en-US')}/${of} rows`)),
    };
  } catch (e) {
    if (!(e instanceof RetagFailed)) throw e;
    const what = e.wrote
      ? `${e.done.length} of ${rows.length} rows re-tagged before it; a corrected copy written beside its old point is ` +
        'recognised by the next audit, and --retag deletes the old point'
      : 'nothing was written';
    return { done: e.done, error: `${e.message} (${what})` };
  }
}

/** One line from the terminal: y or yes goes on. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^\s*y(es)?\s*$/i.test(await rl.question(question));
  } finally {
    rl.close();
  }
}

function parseOptions(args: string[]): AuditArgs | 'help' {
  const v = parseInfluxCommandArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...INFLUX_READ_OPTIONS,
      json: { type: 'boolean' },
      retag: { type: 'boolean' },
      yes: { type: 'boolean' },
    },
  }).values;
  if (v.help) return 'help';
  for (const name of ['url', 'db', 'keys'] as const) if (!v[name]) throw new UsageError(`--${name} is required`);
  const pageSize = Number(v['page-size'] ?? DEFAULT_PAGE_SIZE);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1_000_000)
    throw new UsageError(`--page-size must be a whole number from 1 to 1000000, got "${v['page-size']}"`);
  const auth = influxAuth(v);
  return {
    target: { url: v.url!, db: v.db!, ...(auth && { auth }) },
    keysPath: v.keys!,
    measurement: v.measurement ?? 'mqtt_consumer',
    json: v.json ?? false,
    pageSize,
    retag: v.retag ?? false,
    yes: v.yes ?? false,
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
