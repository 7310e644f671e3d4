/**
 * dist/processor.js: the Telegraf `processors.execd` program. Reads line protocol on stdin, writes
 * every metric back on stdout with its verdict, logs to stderr in Telegraf's level style.
 */
import { KeyFileError } from '../core/keyfile';
import { loadVerifier, nativePointCheck } from './crypto/verifier';
import { KeyRegistry } from './key-registry';
import { MetricSplitter } from './lineprotocol/split';
import { createLogger } from './log';
import { DeviceMemory } from './memory';
import { OptionsError, parseOptions, USAGE } from './options';
import { OutputBuffer } from './output';
import { Pipeline } from './pipeline';
import { ReadingExtractor } from './reading';
import { StateFile } from './state-file';
import { Stats, statsMetric, summaryLine } from './stats';

function main(): void {
  const log = createLogger((line) => process.stderr.write(line));
  let opts;
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

  let keys: KeyRegistry;
  try {
    keys = new KeyRegistry(opts.keys, log, nativePointCheck());
  } catch (e) {
    if (!(e instanceof KeyFileError)) throw e;
    log.log('E', `keys: ${opts.keys}: ${e.message}; cannot start without a key registry`);
    process.exitCode = 1;
    return;
  }
  const crypto = loadVerifier(opts.crypto);
  log.log('I', `Ed25519 verification by ${crypto.name}${crypto.name === 'node:crypto' ? ' (install sodium-native beside the processor for about twice the speed)' : ''}`);

  const { stdin, stdout } = process;
  const out = new OutputBuffer((chunk) => {
    if (!stdout.write(chunk)) {
      stdin.pause(); // backpressure: hold input rather than buffer output without bound
      stdout.once('drain', () => stdin.resume());
    }
  });
  const stats = new Stats();
  const memory = new DeviceMemory();
  const state = opts.state === undefined ? undefined : new StateFile(opts.state, memory, log);
  state?.open(opts.stateIntervalMs);
  const pipeline = new Pipeline({
    extractor: new ReadingExtractor(opts.fields), keys, memory, crypto, log, out, stats,
    expandPayload: opts.expandPayload, keepStrings: new Set([opts.fields.signature, opts.fields.time]),
  });
  const splitter = new MetricSplitter();
  const drainLines = () => {
    for (let l = splitter.next(); l; l = splitter.next()) pipeline.line(l.buf, l.start, l.end);
    out.flush();
    const now = Date.now();
    state?.maybeSave(now);
    keys.poll(now);
  };

  const stopWatching = keys.watch(opts.reloadIntervalMs);
  process.on('SIGHUP', () => keys.reload(true));
  const timers = [
    every(opts.summaryIntervalMs, () => {
      log.log('I', summaryLine(stats.peek(), keys.reloads));
      log.flushSuppressed();
      if (opts.statsIntervalMs === 0) stats.reset();
    }),
    every(opts.statsIntervalMs, () => {
      out.ascii(statsMetric(stats.peek(), keys.reloads, Date.now()));
      out.flush();
      stats.reset();
    }),
  ];

  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    stdin.pause();
    drainLines();
    const rest = splitter.finish();
    if (rest) pipeline.line(rest.buf, rest.start, rest.end);
    out.flush();
    stopWatching();
    timers.forEach((t) => t && clearInterval(t));
    log.flushSuppressed();
    state?.close();
    // Exit once stdout has taken everything; never process.exit() with writes pending.
    stdout.write('', () => {
      process.exitCode = 0;
      stdin.destroy();
    });
  };

  stdin.on('data', (chunk: Buffer) => {
    splitter.push(chunk);
    drainLines();
  });
  stdin.on('end', finish);
  process.on('SIGTERM', finish);
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

main();
