/**
 * dist/processor.js: the Telegraf `processors.execd` program. Reads line protocol on stdin, writes
 * every metric back on stdout with its verdict, logs to stderr in Telegraf's level style. The same
 * file serves as the verification worker thread.
 */
import { KeyFileError } from '../core/keyfile';
import { isVerifyWorker, runVerifyWorker, VerifyPool } from './crypto/pool';
import { loadVerifier, nativePointCheck, sodiumRefused, type SignatureVerifier } from '../core/node/verifier';
import { KeyRegistry } from './key-registry';
import { MetricSplitter } from '../core/lineprotocol/split';
import { createLogger, type Logger } from './log';
import { LastAccepted } from './last-accepted';
import { OptionsError, parseOptions, USAGE, VERSION, type ProcessorOptions } from './options';
import { OutputBuffer } from './output';
import { Pipeline } from './pipeline';
import { ReadingExtractor } from './reading';
import { StateFile } from './state-file';
import { isRedisUrl, RedisState } from './redis-state';
import { Stats, statsMetric, summaryLine } from './stats';

/** Metrics waiting for worker threads before input is paused: bounds memory under any input rate. */
const MAX_PENDING = 2048;

function main(): void {
  // Signal handlers before anything slow: until one exists, a SIGHUP kills the process (Node's default).
  let onHup = () => {};
  let onTerm: () => void = () => process.exit(0); // during start-up nothing has been read yet, nor locked
  process.on('SIGHUP', () => onHup());
  process.on('SIGTERM', () => onTerm());

  const log = createLogger((line) => process.stderr.write(line));
  let opts: ReturnType<typeof parseOptions>;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof OptionsError)) throw e;
    log.log('E', `${e.message} (try --help)`);
    process.exitCode = 2;
    return;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (opts === 'version') {
    process.stdout.write(`meterproof ${VERSION}\n`);
    return;
  }

  const warn = (m: string) => log.log('W', m);
  let crypto: SignatureVerifier;
  try {
    crypto = loadVerifier(opts.crypto, warn);
  } catch (e) {
    log.log('E', `${(e as Error).message}; cannot start`);
    process.exitCode = 1;
    return;
  }
  const keys = new KeyRegistry(opts.keys, log, nativePointCheck(opts.crypto, warn));
  onHup = () => keys.reload(true);
  const o = opts;
  const memory = new LastAccepted();
  let shared: RedisState | undefined;
  if (o.state !== undefined && isRedisUrl(o.state)) {
    try {
      shared = new RedisState(o.state, memory, log, o.stateTimeoutMs);
    } catch (e) {
      log.log('E', `${(e as Error).message}; cannot start`);
      process.exitCode = 2;
      return;
    }
  }
  // With a healthy Redis, even the first metric is judged on shared state: wait for it (bounded) first.
  Promise.all([keys.start(), shared?.open()]).then(
    () => run(o, log, keys, crypto, memory, shared, (finish) => (onTerm = finish)),
    (e: unknown) => {
      const why = e instanceof KeyFileError ? e.message : `cannot read: ${(e as Error).message}`;
      log.log('E', `keys: ${o.keys}: ${why}; cannot start without a key registry`);
      process.exit(1); // a read stuck on a hung mount would keep the process alive
    },
  );
}

function run(
  opts: ProcessorOptions,
  log: Logger,
  keys: KeyRegistry,
  crypto: SignatureVerifier,
  memory: LastAccepted,
  shared: RedisState | undefined,
  onTerm: (finish: () => void) => void,
): void {
  const pool =
    opts.workers > 0
      ? new VerifyPool({
          workers: opts.workers,
          backend: opts.crypto,
          script: __filename,
          crypto,
          onFailure: (e) => log.log('E', `verification worker failed (${e.message}); verifying on the main thread from now on`),
        })
      : undefined;
  log.log(
    'I',
    `Ed25519 verification by ${crypto.name}${pool ? `, ${pool.threads} worker threads for bulk input` : ''}` +
      `${crypto.name === 'node:crypto' && opts.crypto === 'auto' && !sodiumRefused() ? ' (install sodium-native beside the processor for about twice the speed)' : ''}`,
  );

  const { stdin, stdout } = process;
  let outputBlocked = false;
  const out = new OutputBuffer((chunk) => {
    if (!stdout.write(chunk) && !outputBlocked) {
      outputBlocked = true; // backpressure: hold input rather than buffer output without bound
      stdin.pause();
      stdout.once('drain', () => {
        outputBlocked = false;
        resume();
      });
    }
    return stdout.writableLength === 0; // written at once: the stream holds no reference to the chunk
  });
  const stats = new Stats();
  const state = opts.state === undefined || shared ? undefined : new StateFile(opts.state, memory, log, opts.stateRetryMs);
  state?.open(opts.stateIntervalMs);
  const pipeline = new Pipeline({
    extractor: new ReadingExtractor(opts.fields),
    keys,
    memory,
    crypto,
    pool,
    log,
    out,
    stats,
    expandPayload: opts.expandPayload,
    ...(shared && { shared }),
    afterAsyncWrite: () => state?.maybeSave(),
  });
  const splitter = new MetricSplitter();
  let finished = false;
  const resume = () => {
    if (!finished && !outputBlocked && pipeline.pending < MAX_PENDING) stdin.resume();
  };
  const drainLines = () => {
    for (let l = splitter.next(); l; l = splitter.next()) pipeline.line(l.buf, l.start, l.end);
    pipeline.endChunk();
    out.flush();
    if (pipeline.pending >= MAX_PENDING) {
      stdin.pause();
      void pipeline.idle().then(resume);
    }
    const now = Date.now();
    state?.maybeSave(now);
    keys.poll(now);
  };

  const stopWatching = keys.watch(opts.reloadIntervalMs);
  const timers = [
    every(opts.summaryIntervalMs, () => {
      log.log('I', summaryLine(stats.peek(), keys.reloads, state?.mode ?? shared?.mode));
      log.flushSuppressed();
      if (opts.statsIntervalMs === 0) stats.reset();
    }),
    every(opts.statsIntervalMs, () => {
      out.ascii(statsMetric(stats.peek(), keys.reloads, Date.now()));
      out.flush();
      stats.reset();
    }),
  ];

  const finish = () => {
    if (finished) return;
    finished = true;
    stdin.pause();
    drainLines();
    const rest = splitter.finish();
    if (rest) {
      pipeline.line(rest.buf, rest.start, rest.end);
      pipeline.endChunk();
    }
    void pipeline.idle().then(async () => {
      out.flush();
      stopWatching();
      timers.forEach((t) => t && clearInterval(t));
      log.flushSuppressed();
      state?.close();
      await shared?.close();
      await pool?.close();
      // Exit once stdout has taken everything; never process.exit() with writes pending.
      stdout.write('', () => {
        process.exitCode = 0;
        stdin.destroy();
        if (keys.busy) process.exit(0); // a key read stuck on a hung mount must not keep us alive
      });
    });
  };

  stdin.on('data', (chunk: Buffer) => {
    splitter.push(chunk);
    drainLines();
  });
  stdin.on('end', finish);
  onTerm(finish);
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    // Telegraf is gone: nobody is left to deliver to. Keep the state, then leave.
    log.log('E', `stdout: ${e.message}`);
    state?.close();
    process.exit(0);
  });
}

function every(ms: number, fn: () => void): NodeJS.Timeout | undefined {
  if (ms <= 0) return undefined;
  const t = setInterval(fn, ms);
  t.unref();
  return t;
}

if (isVerifyWorker()) runVerifyWorker();
else if (process.argv[2] === 'state')
  void import('./state-tool').then(async ({ runStateTool }) => (process.exitCode = await runStateTool(process.argv.slice(3))));
else main();
