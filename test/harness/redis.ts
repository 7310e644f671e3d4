/**
 * Real Redis servers (Debian's `redis-server`) on loopback, in temporary folders: one, a three-node cluster,
 * or a master with a replica watched by Sentinel (`redis-server <conf> --sentinel`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, requireBinary, stopService, waitFor } from './ports';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** redis-cli against this server. */
  cli(...args: string[]): Promise<string>;
  /** SIGSTOP / SIGCONT: a Redis that hangs, with its connections open. */
  signal(sig: 'SIGSTOP' | 'SIGCONT'): void;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  /** Starts again on the same port (empty: no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const cliOn = async (port: number, args: string[]) =>
  (await promisify(execFile)(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout;

export async function startRedis(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
  await requireBinary(REDIS_SERVER, 'redis-server');
  await requireBinary(REDIS_CLI, 'redis-tools');
  const dir = await mkdtemp(join(tmpdir(), 'meterproof-redis-'));
  const p = port ?? (await freePort());
  let proc: ChildProcess;
  const launch = async () => {
    proc = spawn(
      REDIS_SERVER,
      ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    await waitFor('redis-server', async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}): ${stderr}`);
      return (await cliOn(p, ['ping'])).trim() === 'PONG';
    });
  };
  await launch();
  const gone = () => (proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', r)));
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    cli: (...args) => cliOn(p, args),
    signal: (sig) => void proc.kill(sig),
    async kill() {
      proc.kill('SIGKILL');
      await gone();
    },
    restart: launch,
    stop: () => stopService(proc, dir),
  };
}

export interface RedisCluster {
  readonly url: string;
  readonly nodes: readonly RedisServer[];
  stop(): Promise<void>;
}

/** Three masters, no replicas: `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < 3; i++)
    nodes.push(
      await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '2000']),
    );
  const hosts = nodes.map((n) => `127.0.0.1:${n.port}`);
  await promisify(execFile)(REDIS_CLI, ['--cluster', 'create', ...hosts, '--cluster-replicas', '0', '--cluster-yes']);
  await waitFor('redis cluster', async () => (await nodes[0]!.cli('cluster', 'info')).includes('cluster_state:ok'));
  return {
    url: `redis+cluster://${hosts.join(',')}`,
    nodes,
    stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))),
  };
}

export interface RedisSentinel {
  /** `redis+sentinel://127.0.0.1:<sentinel port>/<name>` */
  readonly url: string;
  readonly name: string;
  /** The servers in start order: the first master, then its replica; `master()` says which leads now. */
  readonly servers: readonly RedisServer[];
  /** redis-cli against the Sentinel. */
  sentinel(...args: string[]): Promise<string>;
  /** The server Sentinel names as master now. */
  master(): Promise<RedisServer>;
  /**
   * `SENTINEL FAILOVER`; resolves to the promoted server once Sentinel names it. The old master goes on
   * taking writes (lost later) until Sentinel turns it into a replica, seconds afterwards: see `settled`.
   */
  failover(): Promise<RedisServer>;
  /** Waits until every other server replicates from `master`. */
  settled(master: RedisServer): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A master, one replica and one Sentinel (quorum 1), with Sentinel's timers cut from 30 s / 3 min to
 * about a second so a failover finishes within a test.
 */
export async function startRedisSentinel(name = 'meterproof'): Promise<RedisSentinel> {
  const master = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
  const servers = [master, replica];
  await waitFor('replica in sync', async () => (await replica.cli('info', 'replication')).includes('master_link_status:up'));

  const dir = await mkdtemp(join(tmpdir(), 'meterproof-sentinel-'));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf'); // Sentinel rewrites it: it must be writable
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 3000`,
      '',
    ].join('\n'),
  );
  const proc = spawn(REDIS_SERVER, [conf, '--sentinel'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const sentinel = (...args: string[]) => cliOn(port, args);
  const masterPort = async () => Number((await sentinel('sentinel', 'get-master-addr-by-name', name)).trim().split('\n')[1]);
  const byPort = async () => {
    const p = await masterPort();
    const s = servers.find((x) => x.port === p);
    if (!s) throw new Error(`Sentinel names an unknown master on port ${p}`);
    return s;
  };
  // Sentinel learns of the replica from the master's INFO; a failover needs it known.
  await waitFor('sentinel', async () => {
    if (proc.exitCode !== null) throw new Error(`redis-server --sentinel exited (${proc.exitCode}): ${stderr}`);
    return (await sentinel('sentinel', 'replicas', name)).includes(String(replica.port));
  });
  return {
    url: `redis+sentinel://127.0.0.1:${port}/${name}`,
    name,
    servers,
    sentinel,
    master: byPort,
    async failover() {
      const before = await byPort();
      await sentinel('sentinel', 'failover', name);
      await waitFor('promotion', async () => (await byPort()) !== before && (await (await byPort()).cli('role')).startsWith('master'));
      return byPort();
    },
    async settled(master) {
      const others = servers.filter((s) => s !== master);
      await waitFor('replicas following the new master', async () =>
        (await Promise.all(others.map((s) => s.cli('info', 'replication')))).every(
          (r) => r.includes(`master_port:${master.port}`) && r.includes('master_link_status:up'),
        ),
      );
    },
    async stop() {
      await stopService(proc, dir);
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
