/** Command-line options of dist/processor.js (docs/design.md §4 contract: `--keys FILE [--state FILE]`). */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { BackendChoice } from '../core/node/verifier';
import { DEFAULT_FIELD_NAMES, type FieldNames } from '../core/field-names';
import { version } from '../package.json';

/** package.json's version, bundled into dist/processor.js at build time. */
export const VERSION: string = version;

export interface ProcessorOptions {
  readonly keys: string;
  readonly state?: string;
  readonly stateIntervalMs: number;
  /** How often a --state that cannot be written (missing folder, permissions) is tried again. */
  readonly stateRetryMs: number;
  /** --state redis://…: how long a batch may wait for Redis before local memory answers. */
  readonly stateTimeoutMs: number;
  readonly crypto: BackendChoice;
  readonly reloadIntervalMs: number;
  /** Verification threads beside the main one; 0 verifies inline only. */
  readonly workers: number;
  readonly summaryIntervalMs: number;
  readonly statsIntervalMs: number;
  readonly fields: FieldNames;
  readonly expandPayload: boolean;
}

export const USAGE = `Usage: node processor.js --keys FILE [options]

Telegraf processors.execd plugin: verifies Ed25519-signed BC4P Tasmota readings and tags every
metric with verified=true|false and verify_status=<reason>.

  --keys FILE              device → public key registry (JSON; required). Reloaded on change and SIGHUP.
  --state FILE|URL         remember the last accepted reading per device across restarts (replay checks);
                           a redis://, rediss://, redis+cluster:// or redis+sentinel:// URL shares it between
                           processors (docs/scale-out.md; password also from $METERPROOF_REDIS_PASSWORD)
  --state-timeout MS       with Redis state: longest wait for Redis before this processor's own memory
                           answers (default 200)
  --state-interval MS      how often changed state is written (default 1000; what a kill -9 can lose)
  --state-retry-interval MS  while --state cannot be written (missing folder, permissions), replay memory
                           is kept in memory only and the file tried again this often (default 30000)
  --crypto auto|sodium|node  Ed25519 backend (default auto: libsodium if installed, else node:crypto)
  --reload-interval MS     how often the keys file is checked for changes (default 1000)
  --workers N              extra verification threads for bulk input, beside the main thread's own share
                           (default: one per core beyond the first); lone metrics are verified at once, inline
  --summary-interval S     seconds between I! summaries on stderr, 0 = off (default 60)
  --stats-interval S       also emit a "meterproof" metric with the counts every S seconds (default 0 = off;
                           these are metrics beyond one-for-one)
  --device-tag NAME        tag naming the device (default device; else the topic's 2nd segment)
  --topic-tag NAME         tag holding the MQTT topic (default topic)
  --signature-field NAME   (default Signature)    --time-field NAME   (default Time)
  --total-field NAME       json v1 name of Total (default ENERGY_Total; phases NAME_0..n)
  --payload-field NAME     string field with the raw payload in exact mode (default value)
  --no-expand-payload      in exact mode, do not add the payload's fields the way json v1 would
  --version                print "meterproof <version>" and exit
  --help                   this text
`;

export class OptionsError extends Error {}

export function parseOptions(argv: string[]): ProcessorOptions | 'help' | 'version' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        keys: { type: 'string' },
        state: { type: 'string' },
        'state-interval': { type: 'string', default: '1000' },
        'state-retry-interval': { type: 'string', default: '30000' },
        'state-timeout': { type: 'string', default: '200' },
        crypto: { type: 'string', default: 'auto' },
        'reload-interval': { type: 'string', default: '1000' },
        workers: { type: 'string' },
        'summary-interval': { type: 'string', default: '60' },
        'stats-interval': { type: 'string', default: '0' },
        'device-tag': { type: 'string' },
        'topic-tag': { type: 'string' },
        'signature-field': { type: 'string' },
        'time-field': { type: 'string' },
        'total-field': { type: 'string' },
        'payload-field': { type: 'string' },
        'no-expand-payload': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', default: false },
      },
    }).values;
  } catch (e) {
    throw new OptionsError((e as Error).message);
  }
  if (v.help) return 'help';
  if (v.version) return 'version';
  if (!v.keys) throw new OptionsError('--keys FILE is required');
  if (!['auto', 'sodium', 'node'].includes(v.crypto!)) throw new OptionsError(`--crypto must be auto, sodium or node, not "${v.crypto}"`);
  const d = DEFAULT_FIELD_NAMES;
  return {
    keys: v.keys,
    ...(v.state !== undefined && { state: v.state }),
    stateIntervalMs: number(v['state-interval']!, '--state-interval', 50),
    stateRetryMs: number(v['state-retry-interval']!, '--state-retry-interval', 50),
    stateTimeoutMs: number(v['state-timeout']!, '--state-timeout', 1),
    crypto: v.crypto as BackendChoice,
    reloadIntervalMs: number(v['reload-interval']!, '--reload-interval', 50),
    // The main thread verifies its own share of bulk input, so one worker per other core.
    workers: v.workers === undefined ? availableParallelism() - 1 : Math.floor(number(v.workers, '--workers', 0)),
    summaryIntervalMs: number(v['summary-interval']!, '--summary-interval', 0) * 1000,
    statsIntervalMs: number(v['stats-interval']!, '--stats-interval', 0) * 1000,
    fields: {
      deviceTag: v['device-tag'] ?? d.deviceTag,
      topicTag: v['topic-tag'] ?? d.topicTag,
      signature: v['signature-field'] ?? d.signature,
      time: v['time-field'] ?? d.time,
      total: v['total-field'] ?? d.total,
      payload: v['payload-field'] ?? d.payload,
    },
    expandPayload: !v['no-expand-payload'],
  };
}

function number(s: string, flag: string, min: number): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < min) throw new OptionsError(`${flag} must be a number ≥ ${min}, not "${s}"`);
  return n;
}
