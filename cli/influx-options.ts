/** What the commands that read InfluxDB (`audit`, `statement create`) take from their options alike. */
import type { ParseArgsConfig, parseArgs } from 'node:util';
import { redactUrlsIn } from '../audit/display-url';
import type { InfluxTarget } from '../audit/influx-pager';
import { asUsageError, parseCommandArgs, UsageError } from './command';

const text = { type: 'string' } as const;

/** The options every command that reads InfluxDB takes, with the same meaning. */
export const INFLUX_READ_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  url: text,
  db: text,
  keys: text,
  measurement: text,
  'page-size': text,
  username: text,
  password: text,
} as const;

/** `parseCommandArgs` whose errors never show a password: the parser quotes a stray argument, which may be a URL with one in it. */
export function parseInfluxCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseCommandArgs(config);
  } catch (e) {
    const usage = asUsageError(e);
    if (!usage) throw e;
    throw new UsageError(redactUrlsIn(usage.message));
  }
}

/**
 * The credentials: `--username`/`--password`, else `$INFLUX_USERNAME`/`$INFLUX_PASSWORD`, else the user
 * info of the URL (`inUrl`); without a user, `$INFLUX_TOKEN`; else none.
 */
export function influxAuth(
  v: { username?: string | undefined; password?: string | undefined },
  inUrl?: { username: string; password: string },
): InfluxTarget['auth'] {
  const username = v.username ?? process.env.INFLUX_USERNAME ?? inUrl?.username;
  const password = v.password ?? process.env.INFLUX_PASSWORD ?? inUrl?.password ?? '';
  const token = process.env.INFLUX_TOKEN;
  return username !== undefined ? { username, password } : token ? { token } : undefined;
}
