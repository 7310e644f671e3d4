/**
 * dist/processor.js: the Telegraf `processors.execd` program. Reads line protocol on stdin, writes
 * every metric back on stdout with its verdict, logs to stderr in Telegraf's level style.
 */
import { KeyFileError } from '../core/keyfile';
import { loadVerifier } from './crypto/verifier';
import { KeyRegistry } from './key-registry';
import { MetricSplitter } from './lineprotocol/split';
import { createLogger } from './log';
import { DeviceMemory } from './memory';
import { OptionsError, parseOptions, USAGE } from './options';
import { OutputBuffer } from './output';
import { Pipeline } from './pipeline';
import { ReadingExtractor } from './reading';
import { Stats } from './stats';

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
    keys = new KeyRegistry(opts.keys, log);
  } catch (e) {
    if (!(e instanceof KeyFileError)) throw e;
    log.log('E', `keys: ${opts.keys}: ${e.message}; cannot start without a key registry`);
    process.exitCode = 1;
    return;
  }
  const crypto = loadVerifier(opts.crypto);
  log.log('I', `Ed25519 verification by ${crypto.name}${crypto.name === 'node:crypto' ? ' (install sodium-native beside the processor for ~2x speed)' : ''}`);

  const stdout = process.stdout;
  const stdin = process.stdin;
  const out = new OutputBuffer((chunk) => {
    if (!stdout.write(chunk)) {
      stdin.pause(); // backpressure: hold input, never buffer output without bound
      stdout.once('drain', () => stdin.resume());
    }
  });
  const stats = new Stats();
  const memory = new DeviceMemory();
  const pipeline = new Pipeline({
    extractor: new ReadingExtractor(opts.fields), keys, memory, crypto, log, out, stats,
    expandPayload: opts.expandPayload, keepStrings: new Set([opts.fields.signature, opts.fields.time]),
  });
  const splitter = new MetricSplitter();
  const drainLines = () => {
    for (let l = splitter.next(); l; l = splitter.next()) pipeline.line(l.buf, l.start, l.end);
    out.flush();
  };

  const stopWatching = keys.watch(opts.reloadIntervalMs);
  process.on('SIGHUP', () => keys.reload(true));
  const summary = opts.summaryIntervalMs > 0 ? setInterval(() => summarize(), opts.summaryIntervalMs) : undefined;
  summary?.unref();
  const summarize = () => {
    const s = stats.take();
    const parts = Object.entries(s.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`);
    log.log('I', `summary: ${parts.join(' ') || 'no metrics'}; devices=${s.devices} invalid_lines=${s.invalidLines} key_reloads=${keys.reloads}`);
    log.flushSuppressed();
  };

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
    if (summary) clearInterval(summary);
    log.flushSuppressed();
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
    // Telegraf went away: nothing left to deliver to.
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

main();
