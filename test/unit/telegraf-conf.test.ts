/** The sample telegraf.conf parses as TOML and wires meterproof the way docs/design.md §2–4 require. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { NODE_FLAGS } from '../../processor/launch-flags';
import { checkConfig } from '../../cli/doctor/telegraf';
import { describe, expect, it } from 'vitest';

type Table = Record<string, unknown>;
const text = readFileSync(join(__dirname, '..', '..', 'telegraf.conf'), 'utf8');
const conf = parse(text) as Table;
const first = (path: string[]): Table => {
  let node: unknown = conf;
  for (const p of path) node = (node as Table)[p];
  return (Array.isArray(node) ? node[0] : node) as Table;
};

describe('telegraf.conf', () => {
  it('skips processors after aggregators, so the processor never runs twice', () => {
    expect(first(['agent']).skip_processors_after_aggregators).toBe(true);
  });

  it('consumes tele/+/SENSOR with a device tag from the topic and json v1 keeping Signature and Time', () => {
    const mqtt = first(['inputs', 'mqtt_consumer']);
    expect(mqtt.topics).toEqual(['tele/+/SENSOR']);
    expect(mqtt.data_format).toBe('json');
    expect(mqtt.json_string_fields).toEqual(expect.arrayContaining(['Signature', 'Time']));
    expect(mqtt).not.toHaveProperty('json_time_key');
    const tp = (mqtt.topic_parsing as Table[])[0]!;
    expect(tp).toMatchObject({ topic: 'tele/+/SENSOR', tags: '_/device/_' });
  });

  it('documents the exact-mode alternative', () => {
    expect(text).toMatch(/^\s*#\s*data_format = "value"$/m);
    expect(text).toMatch(/^\s*#\s*data_type = "string"$/m);
  });

  it('runs the built processor with the contract command line, only on the plugs metrics', () => {
    const execd = first(['processors', 'execd']);
    expect(execd.namepass).toEqual(['mqtt_consumer']);
    const cmd = execd.command as string[];
    // Absolute: systemd's PATH (and so Telegraf's) does not hold an nvm-installed node.
    expect(cmd[0]).toBe('/usr/bin/node');
    // The benchmark runs node with the same flags, so its figures are the shipped command's.
    expect(cmd.slice(1, 1 + NODE_FLAGS.length)).toEqual(NODE_FLAGS);
    const rest = cmd.slice(1 + NODE_FLAGS.length);
    expect(rest[0]).toMatch(/\/dist\/processor\.js$/);
    expect(rest.slice(1)).toEqual(['--keys', expect.stringMatching(/\.json$/), '--state', expect.stringMatching(/\.json$/)]);
  });

  it('states the Telegraf versions, what the agent setting does, what a restart keeps and the naming rules', () => {
    const comments = text
      .split('\n')
      .filter((l) => /^\s*#/.test(l))
      .map((l) => l.replace(/^\s*#+\s?/, ''))
      .join(' ');
    expect(comments).toMatch(/Telegraf 1\.30 or later/);
    expect(comments).toMatch(/1\.24\.2 to\s+1\.33\.2 read the processor's output through a 256 KiB line buffer/);
    expect(comments).toMatch(/stops reading the processor's output for good and the whole agent stalls/);
    expect(comments).toMatch(/ALL processors of this agent/);
    expect(comments).toMatch(/acknowledges a message as soon as it has written it to the processor, not when InfluxDB has\s+stored it/);
    expect(comments).toMatch(/must be the plug's MQTT Topic/);
    expect(comments).toMatch(/Each Telegraf agent needs its own client_id/);
    expect(comments).toMatch(/systemd's PATH\s+has no nvm/);
  });

  it("passes meterproof doctor's configuration checks", () => {
    const report = checkConfig(conf);
    expect(report.findings.filter((f) => f.level !== 'ok')).toEqual([]);
    expect(report.execd).toMatchObject({
      node: '/usr/bin/node',
      keys: '/etc/telegraf/pub_keys.json',
      state: '/var/lib/meterproof/state.json',
    });
  });

  it('writes to InfluxDB', () => {
    expect((first(['outputs', 'influxdb']).urls as string[])[0]).toMatch(/^http:\/\//);
  });
});
