/**
 * `--state redis://…`: the device memory shared by any number of processors in Redis (docs/scale-out.md).
 * Each device is one key; accepting a reading is one server-side compare-and-set (a Lua script that
 * applies LastAccepted.judge's rules and stores the reading only if it is ok), so processors sharing a
 * Redis judge exactly as one processor would over the merged stream.
 *
 * Redis down or slow is not the pipeline down: no batch waits longer than `timeoutMs`; verdicts then
 * come from the local LastAccepted (kept in step with every answer), one `W! ` line says so, the
 * client reconnects with backoff, and on return what was accepted meanwhile is merged (newest wins).
 */
import Redis, { Cluster, type RedisOptions } from 'ioredis';
import type { Accepted, LastAccepted, Progress } from './last-accepted';
import type { Logger } from './log';

/** Key of a device's last accepted reading. One key per device: any key lives in one cluster slot. */
export const KEY_PREFIX = 'meterproof:last:';

/**
 * ARGV: mode ('judge' | 'merge'), time19, keyHex, keyNotBefore ('' = none), totals (comma-joined,
 * each as JavaScript prints a number, so parsing gives the same double). The stored value is
 * `time19|keyHex|totals`. Returns 'ok' (stored), or {verdict, stored value} when not stored.
 */
export const JUDGE_LUA = `
local mode, t, k, nb, tot = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
-- byte order, as JavaScript compares these ASCII strings (Lua's < follows the server's locale)
local function less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local cur = redis.call('GET', KEYS[1])
if cur then
  local lt, lk, ltot = string.match(cur, '^([^|]*)|([^|]*)|(.*)$')
  if lt == nil then
    -- not ours: overwrite
  elseif mode == 'merge' then
    if not less(lt, t) then return {'kept', cur} end
  else
    if not less(lt, t) then return {'replay', cur} end
    local fresh = k ~= lk and nb ~= '' and less(lt, nb)
    if not fresh then
      local before, now = {}, {}
      for v in string.gmatch(ltot, '[^,]+') do before[#before + 1] = tonumber(v) end
      for v in string.gmatch(tot, '[^,]+') do now[#now + 1] = tonumber(v) end
      local down = false
      if #before == #now then
        for i = 1, #now do if now[i] < before[i] then down = true end end
      else
        local sb, sn = 0, 0
        for i = 1, #before do sb = sb + math.floor(before[i] * 1e6 + 0.5) end
        for i = 1, #now do sn = sn + math.floor(now[i] * 1e6 + 0.5) end
        down = sn < sb
      end
      if down then return {'rollback', cur} end
    end
  end
end
redis.call('SET', KEYS[1], t .. '|' .. k .. '|' .. tot)
return 'ok'
`;

export interface JudgeRequest {
  readonly device: string;
  readonly time19: string;
  readonly totals: readonly number[];
  readonly keyHex: string;
  readonly keyNotBefore: string | undefined;
}

type ScriptReply = string | [string, string];
interface MeterproofCommands {
  meterproofJudge(key: string, mode: string, t: string, k: string, nb: string, tot: string): Promise<ScriptReply>;
}
export type RedisClient = (Redis | Cluster) & MeterproofCommands;

export function isRedisUrl(s: string): boolean {
  return /^(redis|rediss|redis\+cluster|rediss\+cluster|redis\+sentinel|rediss\+sentinel):\/\//.test(s);
}

export function encodeValue(a: Accepted): string {
  return `${a.time19}|${a.keyHex}|${a.totals.map(String).join(',')}`;
}

export function decodeValue(v: string): Accepted | undefined {
  const m = /^([^|]{19})\|([^|]*)\|(.*)$/.exec(v);
  if (!m) return undefined;
  const totals = m[3] === '' ? [] : m[3]!.split(',').map(Number);
  if (!totals.every(Number.isFinite)) return undefined;
  return { time19: m[1]!, keyHex: m[2]!, totals };
}

/** Hides the password when a URL is logged. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):([^@/]*)@/, '//$1:***@');
}

/**
 * Connects per the URL forms of docs/scale-out.md:
 * `redis[s]://[user:password@]host:port[/db]`, `redis[s]+cluster://[user:password@]h1:p1,h2:p2`,
 * `redis[s]+sentinel://[user:password@]h1:p1,h2:p2/mastername[/db]`. `$METERPROOF_REDIS_PASSWORD`
 * gives the password when the URL has none.
 */
export function createClient(url: string, extra: RedisOptions = {}): RedisClient {
  const m = /^(rediss?)(?:\+(cluster|sentinel))?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]*)(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`--state ${redactUrl(url)} is not a Redis URL`);
  const [, scheme, kind, user, pass, hostList, path] = m;
  const password = pass !== undefined ? decodeURIComponent(pass) : process.env.METERPROOF_REDIS_PASSWORD || undefined;
  const username = user ? decodeURIComponent(user) : undefined;
  const tls = scheme === 'rediss' ? {} : undefined;
  const hosts = hostList!.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    return i < 0
      ? { host: hp || '127.0.0.1', port: 6379 }
      : { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hp.slice(i + 1)) };
  });
  const base: RedisOptions = {
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    ...(tls && { tls }),
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: true,
    ...extra,
  };
  let client: Redis | Cluster;
  if (kind === 'cluster') {
    client = new Cluster(hosts, {
      enableAutoPipelining: true,
      enableOfflineQueue: base.enableOfflineQueue ?? true,
      lazyConnect: true,
      clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      redisOptions: base,
    });
  } else if (kind === 'sentinel') {
    const [name, db] = (path ?? '').split('/');
    if (!name) throw new Error(`--state ${redactUrl(url)}: a Sentinel URL names the master: redis+sentinel://host:port,…/mastername`);
    client = new Redis({ ...base, sentinels: hosts, name, ...(db && { db: Number(db) }), sentinelPassword: password });
  } else {
    const db = path ? Number(path) : 0;
    client = new Redis({ ...base, host: hosts[0]!.host, port: hosts[0]!.port, db });
  }
  client.defineCommand('meterproofJudge', { numberOfKeys: 1, lua: JUDGE_LUA });
  return client as RedisClient;
}

export class RedisState {
  readonly client: RedisClient;
  /** Whether verdicts come from Redis; false while it is unreachable, slow or being merged back. */
  private up = false;
  /** Devices accepted locally while Redis was not used: merged on return. */
  private readonly dirty = new Set<string>();
  private outages = 0;
  private localVerdicts = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probeDelay = 100;
  private closed = false;
  private lastError = '';
  /** The last batch's verdicts: the next batch is applied after it. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly url: string,
    private readonly memory: LastAccepted,
    private readonly log: Logger,
    private readonly timeoutMs = 200,
    /** How long start-up waits for Redis before answering from local memory. */
    private readonly startWaitMs = 2000,
  ) {
    this.client = createClient(url);
    // Connection errors repeat with every reconnect attempt: the one W! line of an outage names the last.
    this.client.on('error', (e: Error) => (this.lastError = e.message));
    // A dropped connection is an outage even when the client reconnects at once: it may come back to
    // another server (Sentinel demotes the old master with CLIENT KILL) that lost what was written to
    // the old one, so the memory must be merged back before Redis judges again.
    this.client.on('close', () => {
      if (this.up && !this.closed) this.goDown(`connection lost${this.lastError && `: ${this.lastError}`}`);
    });
  }

  /** Connects, waiting at most `startWaitMs`; resolves either way (down means local memory for now). */
  async open(): Promise<void> {
    const ready = this.client.connect().then(() => this.client.ping());
    ready.catch(() => {});
    const ok = await Promise.race([ready.then(() => true), sleep(this.startWaitMs).then(() => false)]).catch(() => false);
    if (ok) {
      this.up = true;
      this.log.log('I', `state: sharing device memory in Redis ${redactUrl(this.url)}`);
    } else this.goDown(`not reachable within ${this.startWaitMs} ms at start${this.lastError && `: ${this.lastError}`}`);
  }

  get mode(): string {
    return this.up ? 'redis' : `memory-only(redis down, ${this.localVerdicts} local verdicts)`;
  }

  /**
   * Judges a batch in order: one pipelined round trip. Resolves within about `timeoutMs`; when Redis
   * does not answer in time, the whole batch is judged on local memory instead.
   */
  judge(batch: readonly JudgeRequest[]): Promise<Progress[]> {
    if (!this.up) {
      // Behind any batch still in flight, in order.
      const local = this.tail.then(() => this.judgeLocally(batch));
      this.tail = local;
      return local;
    }
    const calls = batch.map((r) =>
      this.client.meterproofJudge(KEY_PREFIX + r.device, 'judge', r.time19, r.keyHex, r.keyNotBefore ?? '', r.totals.map(String).join(',')),
    );
    const all = Promise.all(calls);
    all.catch(() => {}); // a late failure after a timeout is not an unhandled rejection
    let timer: NodeJS.Timeout | undefined;
    // On expiry, one more pass of the event loop's I/O phase first: answers that arrived while this
    // process was busy or descheduled are taken, not mistaken for a slow Redis.
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => setImmediate(() => r('timeout')), this.timeoutMs)));
    const raced = Promise.race([all, timeout]).catch((e: unknown) => e as Error);
    // Batches are applied in the order they were sent, whichever cluster node answers first.
    const result = Promise.all([this.tail, raced]).then(([, answers]) => {
      clearTimeout(timer);
      if (answers === 'timeout' || answers instanceof Error || !this.up) {
        if (this.up) this.goDown(answers instanceof Error ? answers.message : `no answer within ${this.timeoutMs} ms`);
        return this.judgeLocally(batch);
      }
      return batch.map((r, i) => this.learn(r, answers[i]!));
    });
    this.tail = result;
    return result;
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.outages > 0 && this.localVerdicts > 0)
      this.log.log('W', `state: ${this.localVerdicts} verdicts were given from local memory while Redis was unavailable`);
    const quit = this.client.quit().then(
      () => {},
      () => {},
    );
    return Promise.race([quit, sleep(500)]).then(() => this.client.disconnect());
  }

  /** Keeps local memory in step with Redis's answer. */
  private learn(r: JudgeRequest, answer: ScriptReply): Progress {
    if (answer === 'ok') {
      this.memory.accept(r.device, { time19: r.time19, totals: r.totals, keyHex: r.keyHex });
      return 'ok';
    }
    const stored = decodeValue(answer[1]);
    if (stored) this.memory.merge([[r.device, stored]]);
    return answer[0] as Progress;
  }

  private judgeLocally(batch: readonly JudgeRequest[]): Progress[] {
    this.localVerdicts += batch.length;
    return batch.map((r) => {
      const p = this.memory.judge(r.device, r.time19, r.totals, r.keyHex, r.keyNotBefore);
      if (p === 'ok') {
        this.memory.accept(r.device, { time19: r.time19, totals: r.totals, keyHex: r.keyHex });
        this.dirty.add(r.device);
      }
      return p;
    });
  }

  private goDown(why: string): void {
    this.up = false;
    this.outages++;
    this.log.log(
      'W',
      `state: Redis ${redactUrl(this.url)} unavailable (${why}); judging replays on this processor's own memory until it is back`,
    );
    this.probeDelay = 100;
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.closed) return;
    this.probeTimer = setTimeout(() => void this.probe(), this.probeDelay);
    this.probeTimer.unref();
    this.probeDelay = Math.min(this.probeDelay * 2, 2000);
  }

  /** Back when a PING answers in time; then merges what was accepted meanwhile, newest wins. */
  private async probe(): Promise<void> {
    try {
      const pong = await Promise.race([this.client.ping(), sleep(this.timeoutMs).then(() => 'late')]);
      if (pong !== 'PONG') throw new Error('no answer');
      // Everything this processor knows, not only what it accepted meanwhile: a Redis that came back
      // empty (no persistence) learns it again. Newest Time wins per device.
      const devices = [...this.dirty, ...[...this.memory.entries()].map(([d]) => d).filter((d) => !this.dirty.has(d))];
      const merged = await Promise.race([
        Promise.all(devices.map((d) => this.mergeOne(d))),
        sleep(Math.max(this.timeoutMs * 10, 2000)).then(() => 'late' as const),
      ]);
      if (merged === 'late') throw new Error('merge too slow');
      for (const d of devices) this.dirty.delete(d);
      // Readings accepted locally during the merge are merged on the next pass.
      if (this.dirty.size > 0) return void this.probe();
      if (this.closed) return;
      this.up = true;
      this.log.log(
        'I',
        `state: Redis ${redactUrl(this.url)} is back; merged ${devices.length} devices into it, ${this.localVerdicts} verdicts so far were given locally`,
      );
    } catch {
      this.scheduleProbe();
    }
  }

  private async mergeOne(device: string): Promise<void> {
    const a = this.memory.get(device);
    if (!a) return;
    const answer = await this.client.meterproofJudge(KEY_PREFIX + device, 'merge', a.time19, a.keyHex, '', a.totals.map(String).join(','));
    if (answer !== 'ok') {
      const stored = decodeValue(answer[1]);
      if (stored) this.memory.merge([[device, stored]]);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Every device's stored reading (for `meterproof state export`); scans each master of a cluster. */
export async function readAll(client: RedisClient): Promise<[string, Accepted][]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client as Redis];
  const out: [string, Accepted][] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const v = await client.get(key);
        const a = v === null ? undefined : decodeValue(v);
        if (a) out.push([key.slice(KEY_PREFIX.length), a]);
      }
    } while (cursor !== '0');
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Merges entries into Redis with the script (newest Time wins per device); returns how many were stored. */
export async function mergeAll(client: RedisClient, entries: Iterable<[string, Accepted]>): Promise<number> {
  const answers = await Promise.all(
    [...entries].map(([d, a]) => client.meterproofJudge(KEY_PREFIX + d, 'merge', a.time19, a.keyHex, '', a.totals.map(String).join(','))),
  );
  return answers.filter((a) => a === 'ok').length;
}
