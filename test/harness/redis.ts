/** Real Redis servers (Debian's `redis-server`) on loopback, in temporary folders: one, or a three-node cluster. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
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
