/** `meterproof statement create`: options, devices run with bounded concurrency, and where statements go. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InfluxUnavailable, ping, type InfluxTarget } from '../../audit/influx-pager';
import { DEFAULT_MEASUREMENT } from '../../core/field-names';
import { KeyFileError, parseKeyFile, type KeyFile } from '../../core/keyfile';
import { loadVerifier } from '../../core/node/verifier';
import type { Statement } from '../../core/statement/format';
import { formatStoredTime, parseStoredTime } from '../../core/statement/time';
import { EXIT_USAGE, UsageError } from '../command';
import { INFLUX_READ_OPTIONS, influxAuth, parseInfluxCommandArgs } from '../influx-options';
import { createStatement, measurementFields, StatementError, type StatementSource } from './create';
import { bundledPageScript, statementHtml } from './html';
import { nodeStatementCrypto } from './node-crypto';

export const DEFAULT_PAGE_SIZE = 10_000;
export const DEFAULT_CONCURRENCY = 4;
const GENERATOR = 'meterproof 0.1.0';

export const CREATE_HELP = `Usage: meterproof statement create --url URL --db NAME --keys FILE
         (--device NAME [--device NAME …] | --all) --from TIME --to TIME [options]

Writes a statement of the energy a device's signed readings prove over a period: the start anchor
is the last verified reading at or before --from (else the first after it), the end anchor the last
at or before --to. A reading anchors only if the processor accepted it (verified=true, verify_status
ok) and its signature verifies now under a key of --keys valid at its signed Time. Each key (a hard
reset makes a new one) is a segment; the energy between segments is a gap, never estimated.

  --url URL            InfluxDB base URL, e.g. http://127.0.0.1:8086
  --db NAME            database (InfluxDB 2.x/3.x: the bucket mapped to it)
  --keys FILE          pub_keys.json, the registry the processor uses
  --device NAME        the device (repeat for several), or
  --all                every device in --keys, one statement each
  --from TIME, --to TIME
                       stored time (UTC): 2024-03-01 (midnight UTC) or RFC 3339 with a zone,
                       e.g. 2024-03-01T00:00:00Z or 2024-03-01T01:00:00+01:00
  --measurement NAME   (default ${DEFAULT_MEASUREMENT})
  --out FILE           write the JSON there instead of stdout; with several devices, a folder that
                       gets one <device>.json each (stdout then gets a JSON array)
  --html FILE          also write one self-contained HTML page (a folder with several devices)
  --page-size N        rows per page of the order pass (default ${DEFAULT_PAGE_SIZE})
  --concurrency N      devices worked on at once (default ${DEFAULT_CONCURRENCY})
  --username NAME      also from $INFLUX_USERNAME (or the user info of --url, never printed)
  --password SECRET    also from $INFLUX_PASSWORD (prefer the variable: arguments show in ps)
                       A token (InfluxDB 2.x/3.x) is read from $INFLUX_TOKEN.

Exit status: 0 a statement was made for every device, 2 a device has no verified reading in the
period (the others' statements are still written), or the database or --keys cannot be read.
`;

interface CreateArgs {
  readonly target: InfluxTarget;
  readonly keysPath: string;
  readonly devices: readonly string[] | 'all';
  readonly from: bigint;
  readonly to: bigint;
  readonly measurement: string;
  readonly out?: string;
  readonly html?: string;
  readonly pageSize: number;
  readonly concurrency: number;
}

export async function createCommand(args: string[]): Promise<number> {
  const a = parseCreateArgs(args);
  if (a === 'help') {
    process.stdout.write(CREATE_HELP);
    return 0;
  }
  const keys = await loadKeys(a.keysPath);
  const devices = a.devices === 'all' ? [...keys.devices.keys()].sort() : [...new Set(a.devices)];
  if (devices.length === 0) throw new UsageError(`--all: ${a.keysPath} registers no device`);
  const several = a.devices === 'all' || devices.length > 1;
  const script = a.html !== undefined ? bundledPageScript() : '';
  const crypto = loadVerifier();
  const source: StatementSource = {
    target: a.target,
    measurement: a.measurement,
    keys,
    crypto,
    statementCrypto: nodeStatementCrypto(crypto),
    pageSize: a.pageSize,
    generator: GENERATOR,
  };
  const fail = (message: string) => process.stderr.write(`meterproof statement: ${message}\n`);
  let fields: string[];
  try {
    await ping(a.target);
    fields = await measurementFields(source);
  } catch (e) {
    if (e instanceof InfluxUnavailable) return (fail(e.message), EXIT_USAGE);
    throw e;
  }

  const made: (Statement | undefined)[] = new Array(devices.length);
  let unavailable: InfluxUnavailable | undefined;
  await eachWithConcurrency(devices, a.concurrency, async (device, i) => {
    if (unavailable) return;
    if (!keys.devices.has(device)) return void fail(`device "${device}" is not in ${a.keysPath}: no key can prove its readings`);
    try {
      made[i] = await createStatement(source, fields, device, a.from, a.to);
    } catch (e) {
      if (e instanceof StatementError) return void fail(e.message);
      if (e instanceof InfluxUnavailable) return void (unavailable ??= e);
      throw e;
    }
  });
  if (unavailable) return (fail(unavailable.message), EXIT_USAGE);

  const statements = made.filter((s): s is Statement => s !== undefined);
  for (const s of statements)
    if (s.irregularities.count > 0)
      fail(
        `device "${s.device}": ${s.irregularities.count} verified readings break the order (see "irregularities"; run meterproof audit)`,
      );
  if (several) {
    if (a.out !== undefined) {
      await mkdir(a.out, { recursive: true });
      for (const s of statements) await writeFile(join(a.out, `${fileName(s.device)}.json`), json(s));
    } else {
      process.stdout.write(`${JSON.stringify(statements, null, 2)}\n`);
    }
    if (a.html !== undefined) {
      await mkdir(a.html, { recursive: true });
      for (const s of statements) await writeFile(join(a.html, `${fileName(s.device)}.html`), statementHtml(s, script));
    }
  } else if (statements[0]) {
    const s = statements[0];
    if (a.out !== undefined) await writeFile(a.out, json(s));
    else process.stdout.write(json(s));
    if (a.html !== undefined) await writeFile(a.html, statementHtml(s, script));
  }
  if (a.out !== undefined) for (const s of statements) process.stdout.write(`${summary(s)}\n`);
  return statements.length === devices.length ? 0 : EXIT_USAGE;
}

const json = (s: Statement): string => `${JSON.stringify(s, null, 2)}\n`;

function summary(s: Statement): string {
  const gaps = s.gaps.length === 1 ? '1 gap' : `${s.gaps.length} gaps`;
  const segments = s.segments.length === 1 ? '1 segment' : `${s.segments.length} segments`;
  return `${s.device}: ${s.consumption_kwh_text} kWh proven in ${segments}, ${gaps}, ${s.readings_checked.toLocaleString('en-US')} readings checked`;
}

/**
 * A file name for any device name: letters, digits, `_` and `-` stay, every other UTF-8 byte becomes
 * `%XX` (so `.`, `/` and `..` cannot name anything but a file in the folder, and no two names collide).
 */
export function fileName(device: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(device))
    out += /[A-Za-z0-9_-]/.test(String.fromCharCode(byte))
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Runs `work` over `items`, at most `limit` at once, in order of start. */
export async function eachWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** `--from`/`--to`: a date (midnight UTC) or RFC 3339 with a zone; nanoseconds since the epoch. */
export function parseTimeOption(name: string, text: string): bigint {
  const ns = parseStoredTime(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (ns === undefined)
    throw new UsageError(`--${name} must be a date (2024-03-01) or RFC 3339 with a zone (2024-03-01T00:00:00Z), got "${text}"`);
  return ns;
}

function parseCreateArgs(args: string[]): CreateArgs | 'help' {
  const text = { type: 'string' } as const;
  const v = parseInfluxCommandArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...INFLUX_READ_OPTIONS,
      all: { type: 'boolean' },
      device: { type: 'string', multiple: true },
      from: text,
      to: text,
      out: text,
      html: text,
      concurrency: text,
    },
  }).values;
  if (v.help) return 'help';
  for (const name of ['url', 'db', 'keys', 'from', 'to'] as const) if (!v[name]) throw new UsageError(`--${name} is required (try --help)`);
  if (v.all && v.device?.length) throw new UsageError('give --device or --all, not both');
  if (!v.all && !v.device?.length) throw new UsageError('--device NAME or --all is required (try --help)');
  if (v.device?.some((d) => d === '')) throw new UsageError('--device must not be empty');
  const from = parseTimeOption('from', v.from!),
    to = parseTimeOption('to', v.to!);
  if (from >= to) throw new UsageError(`--from (${formatStoredTime(from)}) must be before --to (${formatStoredTime(to)})`);
  const whole = (name: string, value: string | undefined, dflt: number, max: number) => {
    const n = Number(value ?? dflt);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}, got "${value}"`);
    return n;
  };
  const { url, inUrl } = splitUserInfo(v.url!);
  const auth = influxAuth(v, inUrl);
  return {
    target: { url, db: v.db!, ...(auth && { auth }) },
    keysPath: v.keys!,
    devices: v.all ? 'all' : v.device!,
    from,
    to,
    measurement: v.measurement ?? DEFAULT_MEASUREMENT,
    ...(v.out !== undefined && { out: v.out }),
    ...(v.html !== undefined && { html: v.html }),
    pageSize: whole('page-size', v['page-size'], DEFAULT_PAGE_SIZE, 1_000_000),
    concurrency: whole('concurrency', v.concurrency, DEFAULT_CONCURRENCY, 64),
  };
}

/**
 * `http://user:pass@host:8086` is a common way to give credentials. They are taken out of the URL and
 * sent as the credentials they are, so that no message, which may quote the URL, can show them.
 * (`--url` reaches audit/influx-pager.ts, whose messages quote it.)
 */
export function splitUserInfo(raw: string): { url: string; inUrl?: { username: string; password: string } } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { url: raw.includes('@') ? raw.replace(/^([^:/]*:\/\/)?.*@/, '$1') : raw };
  }
  // A query or fragment is never sent (paths are resolved against the base) but may hold `p=`.
  if (!u.username && !u.password && !u.search && !u.hash) return { url: raw };
  const inUrl =
    u.username || u.password ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : undefined;
  u.username = u.password = u.search = u.hash = '';
  return { url: u.href, ...(inUrl && { inUrl }) };
}

export async function loadKeys(path: string): Promise<KeyFile> {
  let keys: KeyFile;
  try {
    keys = parseKeyFile(await readFile(path));
  } catch (e) {
    if (e instanceof KeyFileError) throw new UsageError(`--keys ${path}: ${e.message}`);
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new UsageError(`--keys ${path}: cannot read (${code})`);
    throw e;
  }
  for (const r of keys.rejected) process.stderr.write(`meterproof statement: --keys ${path}: ignoring ${r.reason}\n`);
  return keys;
}
