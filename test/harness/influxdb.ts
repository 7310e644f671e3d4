/** A real InfluxDB 1.x (Debian's `influxdb`) on loopback, in a temporary folder, for one test file. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary, stopService, waitFor } from './ports';

const INFLUXD = '/usr/bin/influxd';

export interface InfluxServer {
  readonly url: string;
  /** The influxd process (for its CPU time, in benchmarks). */
  readonly pid: number;
  /** POST /query (InfluxQL), throwing on HTTP or statement errors. */
  query(q: string, db?: string): Promise<InfluxResult[]>;
  /** POST /write, the way Telegraf's outputs.influxdb does (precision ns). */
  write(db: string, lines: string): Promise<void>;
  stop(): Promise<void>;
}

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}
export interface InfluxResult {
  statement_id: number;
  series?: InfluxSeries[];
  error?: string;
}

export interface InfluxOptions {
  /** Turn on authentication with this admin user (created at start, as InfluxDB allows while it has no users). */
  readonly auth?: { readonly username: string; readonly password: string };
}

export async function startInfluxDB(opts: InfluxOptions = {}): Promise<InfluxServer> {
  await requireBinary(INFLUXD, 'influxdb');
  const dir = await mkdtemp(join(tmpdir(), 'meterproof-influx-'));
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const config = `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
  auth-enabled = ${opts.auth ? 'true' : 'false'}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "error"
`;
  await writeFile(join(dir, 'influxdb.conf'), config);
  const proc: ChildProcess = spawn(INFLUXD, ['-config', join(dir, 'influxdb.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${httpPort}`;
  try {
    await waitFor('influxd', async () => {
      if (proc.exitCode !== null) throw new Error(`influxd exited (${proc.exitCode}): ${stderr}`);
      return (await fetch(`${url}/ping`)).status === 204;
    });
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }

  const headers: Record<string, string> = opts.auth
    ? { Authorization: `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}` }
    : {};
  if (opts.auth) {
    const q = `CREATE USER "${opts.auth.username}" WITH PASSWORD '${opts.auth.password}' WITH ALL PRIVILEGES`;
    const res = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
    if (!res.ok) throw new Error(`InfluxDB: cannot create the admin user: ${res.status} ${await res.text()}`);
  }
  const query = async (q: string, db?: string): Promise<InfluxResult[]> => {
    const body = new URLSearchParams({ q, ...(db ? { db } : {}) });
    const res = await fetch(`${url}/query`, { method: 'POST', body, headers });
    const json = (await res.json()) as { results?: InfluxResult[]; error?: string };
    if (!res.ok || json.error) throw new Error(`InfluxDB ${res.status}: ${json.error ?? ''}`);
    const failed = json.results?.find((r) => r.error);
    if (failed) throw new Error(`InfluxQL error: ${failed.error}`);
    return json.results ?? [];
  };
  const write = async (db: string, lines: string): Promise<void> => {
    const res = await fetch(`${url}/write?db=${encodeURIComponent(db)}&precision=ns`, { method: 'POST', body: lines, headers });
    if (res.status !== 204) throw new Error(`InfluxDB write ${res.status}: ${await res.text()}`);
  };
  const stop = () => stopService(proc, dir);
  return { url, pid: proc.pid!, query, write, stop };
}
