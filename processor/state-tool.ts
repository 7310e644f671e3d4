/**
 * `meterproof state` (run as `node processor.js state …`, which `meterproof state` calls): moves a fleet's replay memory between a state file and Redis, and shows a device's. */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { writeAtomic } from '../core/node/atomic-file';
import { LastAccepted, type Accepted } from './last-accepted';
import { createClient, isRedisUrl, KEY_PREFIX, decodeValue, mergeAll, readAll, redactUrl, type RedisClient } from './redis-state';
import { parseState, serialize } from './state-file';

const HELP = `Usage: meterproof state export|import|show --state FILE|URL [options]

The processor's replay memory: per device, the last accepted signed Time, its Totals and the key
that verified it. --state is a state file or a Redis URL, as the processor's --state takes it
(redis://, rediss://, redis+cluster://, redis+sentinel://; docs/scale-out.md).

  export                write the whole memory as a state file (JSON) to --out, or stdout
  import                merge a state file (--in, or stdin) into --state; per device the newer
                        signed Time wins, so importing never moves a device back
  show --device NAME    one device's entry, as JSON

  --state FILE|URL      where the memory is (password also from $METERPROOF_REDIS_PASSWORD)
  --out FILE            export: write here (atomically) instead of stdout
  --in FILE             import: read this state file instead of stdin

Import into a state file while a processor uses that file: the processor overwrites it at its next
save. Stop it first, or import into Redis.

Exit status: 0 done, 1 show: no such device, 2 cannot run (bad arguments, unreadable file, Redis
unreachable).
`;

export class UsageError extends Error {}

/** `processor.js state …`; the exit status: 2 on a usage error, said on stderr. */
export async function runStateTool(args: string[]): Promise<number> {
  try {
    return await stateTool(args);
  } catch (e) {
    process.stderr.write(`meterproof state: ${(e as Error).message}\n`);
    return 2;
  }
}

async function stateTool(args: string[]): Promise<number> {
  const { values: v, positionals } = (() => {
    try {
      return parseArgs({
        args,
        allowPositionals: true,
        options: {
          state: { type: 'string' },
          device: { type: 'string' },
          out: { type: 'string' },
          in: { type: 'string' },
          help: { type: 'boolean', short: 'h', default: false },
        },
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  })();
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [sub] = positionals;
  if (!sub || !['export', 'import', 'show'].includes(sub)) throw new UsageError('say export, import or show (try --help)');
  if (!v.state) throw new UsageError('--state FILE|URL is required');
  if (sub === 'show' && !v.device) throw new UsageError('show needs --device NAME');
  const target = v.state;
  const redis = isRedisUrl(target) ? await connect(target) : undefined;
  try {
    if (sub === 'export') {
      const entries = redis ? await readAll(redis) : readFile(target);
      const text = serialize(entries) + '\n';
      if (v.out) writeAtomic(v.out, text);
      else process.stdout.write(text);
      process.stderr.write(`exported ${entries.length} devices from ${display(target)}\n`);
      return 0;
    }
    if (sub === 'import') {
      const text = v.in ? readFileSync(v.in, 'utf8') : readFileSync(0, 'utf8');
      let entries: [string, Accepted][];
      try {
        entries = parseState(text);
      } catch (e) {
        throw new UsageError(`${v.in ?? 'stdin'} is not a state file: ${(e as Error).message}`);
      }
      let stored: number;
      if (redis) stored = await mergeAll(redis, entries);
      else {
        const memory = new LastAccepted();
        memory.merge(readFile(target));
        const before = new Map([...memory.entries()].map(([d, a]) => [d, a.time19]));
        memory.merge(entries);
        stored = [...memory.entries()].filter(([d, a]) => before.get(d) !== a.time19).length;
        writeAtomic(target, serialize(memory.entries()));
      }
      process.stderr.write(
        `imported ${entries.length} devices into ${display(target)}: ${stored} stored, ${entries.length - stored} kept (not newer)\n`,
      );
      return 0;
    }
    const device = v.device!;
    let entry: Accepted | undefined;
    if (redis) {
      const raw = await redis.get(KEY_PREFIX + device);
      entry = raw === null ? undefined : decodeValue(raw);
    } else entry = readFile(target).find(([d]) => d === device)?.[1];
    if (!entry) {
      process.stderr.write(`device "${device}": nothing accepted in ${display(target)}\n`);
      return 1;
    }
    process.stdout.write(JSON.stringify({ device, time: entry.time19, totals: entry.totals, key: entry.keyHex }) + '\n');
    return 0;
  } finally {
    redis?.disconnect();
  }
}

const display = (target: string) => (isRedisUrl(target) ? redactUrl(target) : target);

function readFile(path: string): [string, Accepted][] {
  if (!existsSync(path)) return [];
  try {
    return parseState(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

async function connect(url: string): Promise<RedisClient> {
  let client: RedisClient;
  try {
    client = createClient(url, { retryStrategy: () => null, maxRetriesPerRequest: 0 });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    client.disconnect();
    throw new UsageError(`cannot reach Redis ${redactUrl(url)}: ${(e as Error).message}`);
  }
  return client;
}
