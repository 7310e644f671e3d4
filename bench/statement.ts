/**
 * `meterproof statement create` at scale, for `npm run bench` (called at the end of bench/run.ts, or
 * alone with `node dist/bench.js --statement`), on a real InfluxDB (the test harness's, on loopback):
 *  (s1) one device with a reading every 10 s: time and peak RSS of the built CLI;
 *  (s2) `--all` over a fleet of 200 devices, run 4 at a time.
 * The rows are what the processor writes for a plug whose payload holds only Time, Signature and
 * Total (json mode), each signed for real (libsodium when installed, else node:crypto), written with
 * the line protocol `/write` endpoint in big batches. Loading 3,000,000 such rows takes InfluxDB 1.6
 * most of ten minutes on the project's loaded 2-core machine, so the default is 1,000,000 rows
 * (115 days); METERPROOF_STATEMENT_ROWS=3000000 measures the full year.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, sign as nodeSign } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Statement } from '../core/statement/format';
import { startInfluxDB, type InfluxServer } from '../test/harness/influxdb';

const CLI = join(__dirname, 'meterproof.js');
export const STEP_MS = 10_000;
export const T0 = Date.parse('2023-01-01T00:00:00Z');
const BATCH = 20_000;
const FLEET = 200;
const FLEET_READINGS = 1_440; // four hours each
const CONCURRENCY = 4;

export interface Signer {
  readonly publicKeyHex: string;
  sign(message: string): string;
}

const requireHere = createRequire(__filename);
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A deterministic key per name; libsodium signs about twice as fast as node:crypto. */
export function signer(name: string): Signer {
  const seed = Buffer.alloc(32);
  seed.write(`meterproof-bench-statement:${name}`.slice(0, 32));
  try {
    const sodium = requireHere('sodium-native') as {
      crypto_sign_seed_keypair(pk: Buffer, sk: Buffer, seed: Buffer): void;
      crypto_sign_detached(sig: Buffer, m: Buffer, sk: Buffer): void;
    };
    const pk = Buffer.alloc(32),
      sk = Buffer.alloc(64),
      sig = Buffer.alloc(64);
    sodium.crypto_sign_seed_keypair(pk, sk, seed);
    return {
      publicKeyHex: pk.toString('hex'),
      sign: (m) => (sodium.crypto_sign_detached(sig, Buffer.from(m, 'latin1'), sk), sig.toString('hex')),
    };
  } catch {
    const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    return {
      publicKeyHex: spki.subarray(spki.length - 32).toString('hex'),
      sign: (m) => nodeSign(null, Buffer.from(m), privateKey).toString('hex'),
    };
  }
}

/** A plug's readings as the processor stores them: Total with 3 decimals, from 1000.000 kWh. */
export function* deviceLines(device: string, s: Signer, count: number, totals: string[]): Generator<string> {
  let units = 1_000_000n;
  for (let i = 0; i < count; i++) {
    units += BigInt(1 + ((i * 7) % 5));
    const digits = units.toString();
    const total = `${digits.slice(0, -3)}.${digits.slice(-3)}`;
    const time = new Date(T0 + i * STEP_MS).toISOString().slice(0, 19);
    const message = `${time},${total}`;
    if (i === 0 || i === count - 1) totals.push(total);
    yield (
      `mqtt_consumer,device=${device},host=bench,topic=tele/${device}/SENSOR,verified=true,verify_status=ok ` +
      `Time="${time}",Signature="${s.sign(message)}",ENERGY_Total=${total},signed_message="${message}" ${T0 + i * STEP_MS + 250}`
    );
  }
}

/** Writes lines in batches of BATCH, two requests in flight (influxd ingests while the next batch is signed). */
export async function load(influx: InfluxServer, db: string, lines: Iterable<string>): Promise<number> {
  let batch: string[] = [];
  let n = 0;
  const inFlight: Promise<void>[] = [];
  const flush = async () => {
    inFlight.push(write(influx, db, batch.join('\n')));
    batch = [];
    if (inFlight.length >= 2) await inFlight.shift();
  };
  for (const line of lines) {
    batch.push(line);
    n++;
    if (batch.length === BATCH) await flush();
  }
  if (batch.length) await flush();
  await Promise.all(inFlight);
  return n;
}

async function write(influx: InfluxServer, db: string, body: string): Promise<void> {
  const res = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body });
  if (res.status !== 204) throw new Error(`InfluxDB write ${res.status}: ${await res.text()}`);
}

/** Runs the built CLI; seconds from spawn to exit and peak RSS (VmHWM, sampled every 20 ms). */
function runCli(args: string[]): Promise<{ seconds: number; peakMb: number; stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '',
      peak = 0;
    const sample = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {
        /* exited */
      }
    }, 20);
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sample);
      resolve({ seconds: (performance.now() - start) / 1000, peakMb: peak, stdout, stderr, code });
    });
  });
}

const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function minus(a: string, b: string): string {
  const d = (BigInt(a.replace('.', '')) - BigInt(b.replace('.', ''))).toString().padStart(4, '0');
  return `${d.slice(0, -3)}.${d.slice(-3)}`;
}

/** The figures, as `[label, value]` rows for bench/run.ts's table. */
export async function statementBench(): Promise<[string, string][]> {
  const rows = Number(process.env.METERPROOF_STATEMENT_ROWS ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'meterproof-bench-statement-'));
  const influx = await startInfluxDB();
  try {
    await influx.query('CREATE DATABASE "one"');
    await influx.query('CREATE DATABASE "fleet"');
    const plug = signer('year-plug');
    const totals: string[] = [];
    let started = performance.now();
    await load(influx, 'one', deviceLines('year-plug', plug, rows, totals));
    const loadOne = (performance.now() - started) / 1000;

    const keys: Record<string, string> = {};
    const fleetLines = function* () {
      for (let d = 0; d < FLEET; d++) {
        const name = `plug-${String(d).padStart(3, '0')}`;
        const s = signer(name);
        keys[name] = s.publicKeyHex;
        yield* deviceLines(name, s, FLEET_READINGS, []);
      }
    };
    started = performance.now();
    await load(influx, 'fleet', fleetLines());
    const loadFleet = (performance.now() - started) / 1000;
    const keysPath = join(dir, 'keys.json'),
      fleetKeysPath = join(dir, 'fleet-keys.json');
    writeFileSync(keysPath, JSON.stringify({ 'year-plug': plug.publicKeyHex }));
    writeFileSync(fleetKeysPath, JSON.stringify(keys));

    // The whole stored range but the first reading's quarter second: one segment, no gap but the last 0.75 s.
    const from = new Date(T0 + 1000).toISOString();
    const to = new Date(T0 + (rows - 1) * STEP_MS + 1000).toISOString();
    const common = ['statement', 'create', '--url', influx.url, '--from', from];
    const one = await runCli([...common, '--to', to, '--keys', keysPath, '--db', 'one', '--device', 'year-plug']);
    if (one.code !== 0) throw new Error(`statement create exited ${one.code}: ${one.stderr}`);
    const s = JSON.parse(one.stdout) as Statement;
    if (s.readings_checked !== rows || s.consumption_kwh_text !== minus(totals[1]!, totals[0]!))
      throw new Error(`unexpected statement: ${s.readings_checked} readings, ${s.consumption_kwh_text} kWh`);

    const fleetTo = new Date(T0 + (FLEET_READINGS - 1) * STEP_MS + 1000).toISOString();
    const out = join(dir, 'statements');
    const all = await runCli([
      ...common,
      ...['--to', fleetTo, '--keys', fleetKeysPath, '--db', 'fleet', '--all', '--out', out, '--concurrency', String(CONCURRENCY)],
    ]);
    const made = readdirSync(out).length;
    if (all.code !== 0 || made !== FLEET) throw new Error(`--all exited ${all.code} with ${made} statements: ${all.stderr}`);

    const days = (rows * STEP_MS) / 86_400_000;
    return [
      [
        `(s1) statement, 1 device, ${f(rows)} readings (${f(days)} days at 10 s)`,
        `${f(one.seconds, 1)} s (${f(rows / one.seconds)} readings/s), peak RSS ${f(one.peakMb, 1)} MB`,
      ],
      [
        `(s2) statement --all, ${FLEET} devices × ${f(FLEET_READINGS)} readings, ${CONCURRENCY} at a time`,
        `${f(all.seconds, 1)} s (${f((all.seconds / FLEET) * 1000)} ms a device), peak RSS ${f(all.peakMb, 1)} MB`,
      ],
      [
        '     loading them into InfluxDB (signing included)',
        `${f(loadOne)} s for ${f(rows)} rows (${f(rows / loadOne)} rows/s), ${f(loadFleet)} s for ${f(FLEET * FLEET_READINGS)}`,
      ],
    ];
  } finally {
    await influx.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `node dist/bench.js --statement`: only these figures. */
export async function statementOnly(): Promise<void> {
  const rows = await statementBench();
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}
