/**
 * What doctor checks in a Telegraf configuration and version: the settings docs/design.md §2–§4 say the
 * processor needs. Pure functions over the parsed TOML, so the unit tests need no files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'smol-toml';
import { fail, ok, warn, type Finding } from './finding';

export type Table = Record<string, unknown>;

const PLUGIN_KINDS = ['inputs', 'processors', 'aggregators', 'outputs'];

/** The files Telegraf reads for `--config PATH`: the file, or a folder's `*.conf` in name order (`--config-directory`). */
export function configFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => f.endsWith('.conf'))
    .sort()
    .map((f) => join(path, f));
}

export class ConfigError extends Error {}

/** One file's TOML; the error names the line. */
export function parseConfigFile(file: string): Table {
  const text = readFileSync(file, 'utf8');
  try {
    return parse(text) as Table;
  } catch (e) {
    const { line, column } = e as { line?: number; column?: number };
    const first = (e as Error).message.split('\n')[0]!;
    throw new ConfigError(`${first}${line ? ` at line ${line}${column ? `, column ${column}` : ''}` : ''}`);
  }
}

/** Telegraf's view of several files: [agent] and [global_tags] merged, plugin lists appended. */
export function mergeConfigs(tables: readonly Table[]): Table {
  const merged: Table = {};
  for (const t of tables) {
    for (const [key, value] of Object.entries(t)) {
      if (PLUGIN_KINDS.includes(key) && isTable(value)) {
        const kind = (merged[key] ??= {}) as Table;
        for (const [plugin, entries] of Object.entries(value)) kind[plugin] = [...plugins(kind[plugin]), ...plugins(entries)];
      } else if (isTable(value) && isTable(merged[key])) {
        merged[key] = { ...(merged[key] as Table), ...value };
      } else {
        merged[key] = value;
      }
    }
  }
  return merged;
}

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
/** `[[inputs.x]]` is an array of tables; Telegraf also takes a single `[inputs.x]`. */
const plugins = (v: unknown): Table[] => (Array.isArray(v) ? v.filter(isTable) : isTable(v) ? [v] : []);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
const quoted = (list: readonly string[]) => `[${list.map((s) => JSON.stringify(s)).join(', ')}]`;

/** What the processor's execd entry runs, as far as doctor needs it. */
export interface ExecdCommand {
  readonly command: readonly string[];
  readonly node: string;
  readonly processor: string;
  readonly keys?: string;
  readonly state?: string;
  readonly signatureField: string;
  readonly timeField: string;
}

/** The value of `--flag X` or `--flag=X` among the processor's arguments. */
function flagValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i]!.startsWith(`${flag}=`)) return args[i]!.slice(flag.length + 1);
  }
  return undefined;
}

export interface ConfigReport {
  readonly findings: Finding[];
  readonly execd?: ExecdCommand;
}

/** Telegraf's filters are globs: `*` any run, `?` one character. */
function glob(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

const SAMPLE_EXECD = 'add the [[processors.execd]] section of docs/install.md';

export function checkConfig(config: Table): ConfigReport {
  const findings: Finding[] = [];

  // [agent]
  const agent = isTable(config.agent) ? config.agent : {};
  const skipAfter = agent.skip_processors_after_aggregators;
  if (agent.skip_processors_before_aggregators === true)
    findings.push(
      fail(
        'agent',
        'skip_processors_before_aggregators = true: the processor would not see readings before aggregators',
        'remove it from [agent]',
      ),
    );
  else if (skipAfter === true)
    findings.push(ok('agent', 'skip_processors_after_aggregators = true: every processor runs once, before aggregators'));
  else
    findings.push(
      fail(
        'agent',
        `skip_processors_after_aggregators is ${skipAfter === undefined ? 'not set' : String(skipAfter)}: with aggregators, ` +
          'Telegraf starts a second meterproof after them',
        'put skip_processors_after_aggregators = true under [agent] in telegraf.conf (Telegraf 1.30 or later; ' +
          'it applies to all your processors)',
      ),
    );

  // [[processors.execd]] running processor.js
  const execds = plugins((config.processors as Table | undefined)?.execd);
  const runsProcessor = (c: unknown) =>
    typeof c === 'string' ? /processor\.js\b/.test(c) : strings(c).some((a) => /(^|\/)processor\.js$/.test(a));
  const ours = execds.filter((e) => runsProcessor(e.command));
  let execd: ExecdCommand | undefined;
  const entry = ours[0];
  if (entry && !Array.isArray(entry.command)) {
    findings.push(fail('execd', 'command is one string; Telegraf needs a list of strings', SAMPLE_EXECD));
  } else if (!entry) {
    findings.push(
      fail(
        'execd',
        execds.length ? `no [[processors.execd]] command runs meterproof's processor.js` : 'no [[processors.execd]] section',
        SAMPLE_EXECD,
      ),
    );
  } else {
    const command = strings(entry.command);
    const at = command.findIndex((a) => /(^|\/)processor\.js$/.test(a));
    const args = command.slice(at + 1);
    const keys = flagValue(args, '--keys');
    const state = flagValue(args, '--state');
    execd = {
      command,
      node: command[0]!,
      processor: command[at]!,
      ...(keys !== undefined && { keys }),
      ...(state !== undefined && { state }),
      signatureField: flagValue(args, '--signature-field') ?? 'Signature',
      timeField: flagValue(args, '--time-field') ?? 'Time',
    };
    const dataFormat = entry.data_format;
    if (at === 0 || !/^node/.test(basename(command[0]!)))
      findings.push(
        fail('execd', `the command starts with "${command[0]}", not node`, `start it with the absolute path of node, e.g. /usr/bin/node`),
      );
    else if (keys === undefined) findings.push(fail('execd', 'the command has no --keys FILE', SAMPLE_EXECD));
    else if (dataFormat !== undefined && dataFormat !== 'influx')
      findings.push(fail('execd', `data_format = "${String(dataFormat)}": the processor speaks line protocol`, 'remove data_format'));
    else
      findings.push(
        ours.length > 1
          ? warn('execd', `${ours.length} [[processors.execd]] sections run processor.js; doctor checks the first`)
          : ok('execd', `runs ${command[at]} with --keys ${keys}${state ? ` --state ${state}` : ''}`),
      );
  }

  // [[inputs.mqtt_consumer]]
  const inputs = plugins((config.inputs as Table | undefined)?.mqtt_consumer);
  const readsPlugs = (i: Table) => strings(i.topics).some((t) => /^tele\/[^/]+\/SENSOR$|^tele\/#$|^#$/.test(t));
  const input = inputs.find(readsPlugs) ?? inputs[0];
  if (!input) {
    findings.push(warn('mqtt_consumer', 'no [[inputs.mqtt_consumer]]: the input is not checked'));
  } else {
    if (!readsPlugs(input))
      findings.push(
        warn('mqtt_consumer', `subscribes to ${quoted(strings(input.topics))}, not tele/+/SENSOR`, 'topics = ["tele/+/SENSOR"]'),
      );
    findings.push(checkFormat(input, execd));
    findings.push(checkTopicParsing(input));
    findings.push(checkSession(input));
    if (entry) findings.push(checkNamepass(entry, input));
  }
  return { findings, ...(execd && { execd }) };
}

function checkFormat(input: Table, execd: ExecdCommand | undefined): Finding {
  const what = 'data format';
  const signature = execd?.signatureField ?? 'Signature';
  const time = execd?.timeField ?? 'Time';
  const format = input.data_format;
  if (format === 'value') {
    return input.data_type === 'string'
      ? ok(what, 'data_format = "value" with data_type = "string": exact mode, the raw payload is verified')
      : fail(what, 'data_format = "value" needs data_type = "string" (exact mode)', 'data_type = "string"');
  }
  if (format !== 'json')
    return fail(
      what,
      `data_format is ${format === undefined ? 'not set (influx)' : `"${String(format)}"`}; the processor reads json v1 or exact mode`,
      `data_format = "json" and json_string_fields = ["${signature}", "${time}"]`,
    );
  const listed = strings(input.json_string_fields);
  const missing = [signature, time].filter((f) => !listed.includes(f));
  if (missing.length)
    return fail(
      what,
      `json_string_fields lacks ${missing.join(' and ')}: json v1 drops strings it does not list, so no reading could verify`,
      `json_string_fields = ${quoted([...new Set([...listed, signature, time])])}`,
    );
  if (input.json_time_key === time) return fail(what, `json_time_key = "${time}" consumes the signed Time`, 'remove json_time_key');
  return ok(what, `data_format = "json" keeps ${signature} and ${time} as strings`);
}

const TOPIC_PARSING_KEYS = new Set(['topic', 'measurement', 'tags', 'fields', 'types']);
const TOPIC_PARSING_FIX = 'add [[inputs.mqtt_consumer.topic_parsing]] with topic = "tele/+/SENSOR" and tags = "_/device/_"';

function checkTopicParsing(input: Table): Finding {
  const what = 'topic_parsing';
  const entries = plugins(input.topic_parsing);
  for (const tp of entries) {
    const stray = Object.keys(tp).filter((k) => !TOPIC_PARSING_KEYS.has(k));
    if (stray.length)
      return fail(
        what,
        `${stray.join(', ')} sit${stray.length === 1 ? 's' : ''} below [[inputs.mqtt_consumer.topic_parsing]], so TOML gives ` +
          `${stray.length === 1 ? 'it' : 'them'} to topic_parsing, not to the input`,
        'move them above the topic_parsing table',
      );
  }
  const names = entries.find((tp) => {
    const topic = String(tp.topic ?? '').split('/');
    const tags = String(tp.tags ?? '').split('/');
    return topic.length === 3 && topic[0] === 'tele' && topic[2] === 'SENSOR' && tags.length === 3 && tags[1] === 'device';
  });
  return names
    ? ok(what, `${String(names.topic)} → tags ${String(names.tags)}: the device tag is the plug's MQTT Topic`)
    : fail(what, 'nothing sets the device tag from tele/<device>/SENSOR', TOPIC_PARSING_FIX);
}

function checkSession(input: Table): Finding {
  const what = 'mqtt session';
  if (input.persistent_session === true && !input.client_id)
    return fail(what, 'persistent_session = true without client_id: Telegraf refuses to start', 'client_id = "telegraf-meterproof"');
  if (input.persistent_session !== true || !(Number(input.qos) >= 1))
    return warn(
      what,
      'not QoS 1 with a persistent session: readings published while Telegraf is down are lost',
      'qos = 1, persistent_session = true and a client_id unique to this agent',
    );
  return ok(what, `QoS ${String(input.qos)}, persistent session as client_id "${String(input.client_id)}"`);
}

function checkNamepass(execd: Table, input: Table): Finding {
  const what = 'namepass';
  const measurement = `${String(input.name_prefix ?? '')}${String(input.name_override ?? 'mqtt_consumer')}${String(input.name_suffix ?? '')}`;
  const pass = strings(execd.namepass);
  if (strings(execd.namedrop).some((p) => glob(p, measurement)))
    return fail(what, `namedrop drops "${measurement}": the processor never sees the readings`, `namepass = ["${measurement}"]`);
  if (!Array.isArray(execd.namepass))
    return warn(
      what,
      `no namepass: every metric of this Telegraf goes through the processor and gets verified=false`,
      `namepass = ["${measurement}"]`,
    );
  return pass.some((p) => glob(p, measurement))
    ? ok(what, `${quoted(pass)}: the processor sees "${measurement}" and nothing else`)
    : fail(what, `${quoted(pass)} does not pass "${measurement}": the processor never sees the readings`, `namepass = ["${measurement}"]`);
}

/** `telegraf --version` prints `Telegraf 1.34.0 (git: HEAD@…)`. */
export function judgeTelegrafVersion(printed: string, binary: string): Finding {
  const what = 'telegraf version';
  const m = /Telegraf v?(\d+)\.(\d+)\.(\d+)/.exec(printed);
  if (!m) return warn(what, `${binary} --version printed "${printed.trim().split('\n')[0]}": version not checked`);
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const v = `${major}.${minor}.${patch}`;
  const at = (a: number, b: number, c: number) => major * 1e6 + minor * 1e3 + patch >= a * 1e6 + b * 1e3 + c;
  if (!at(1, 30, 0))
    return fail(
      what,
      `Telegraf ${v} is older than 1.30 and rejects skip_processors_after_aggregators`,
      'upgrade Telegraf to 1.33.3 or later',
    );
  if (!at(1, 33, 3))
    return warn(
      what,
      `Telegraf ${v} reads the processor's output through a 256 KiB line buffer (1.24.2 to 1.33.2): one longer line stops ` +
        'it reading for good and the whole agent stalls',
      'keep payloads small, or upgrade Telegraf to 1.33.3 or later',
    );
  return ok(what, `Telegraf ${v}`);
}
