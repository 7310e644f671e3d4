/** meterproof doctor's judgements, on parsed configurations and printed versions (no files, no build). */
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { asUsageError, UsageError, usageLine } from '../../cli/command';
import { formatFinding, type Finding } from '../../cli/doctor/finding';
import { judgeNodeVersion } from '../../cli/doctor/node-release';
import { checkConfig, judgeTelegrafVersion, mergeConfigs, type Table } from '../../cli/doctor/telegraf';

const GOOD = `
[agent]
  skip_processors_after_aggregators = true

[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:1883"]
  topics = ["tele/+/SENSOR"]
  qos = 1
  persistent_session = true
  client_id = "telegraf-a"
  data_format = "json"
  json_string_fields = ["Signature", "Time"]
  [[inputs.mqtt_consumer.topic_parsing]]
    topic = "tele/+/SENSOR"
    tags = "_/device/_"

[[processors.execd]]
  namepass = ["mqtt_consumer"]
  command = ["/usr/bin/node", "/opt/meterproof/dist/processor.js", "--keys", "/etc/telegraf/pub_keys.json", "--state", "/var/lib/meterproof/state.json"]
`;

const toml = (text: string) => parse(text) as Table;
/** The sample with `from` replaced by `to` (which must match once). */
const variant = (from: string | RegExp, to: string): Table => {
  const text = GOOD.replace(from, to);
  expect(text).not.toBe(GOOD);
  return toml(text);
};
const findings = (config: Table) => checkConfig(config).findings;
const failures = (config: Table) => findings(config).filter((f) => f.level === 'FAIL');
const line = (f: Finding) => formatFinding(f).trimEnd();

describe('doctor: telegraf.conf', () => {
  it('passes a configuration as docs/install.md writes it, and reads node, --keys and --state from the execd command', () => {
    const report = checkConfig(toml(GOOD));
    expect(report.findings.map(line)).toEqual(report.findings.filter((f) => f.level === 'ok').map(line));
    expect(report.execd).toMatchObject({
      node: '/usr/bin/node',
      processor: '/opt/meterproof/dist/processor.js',
      keys: '/etc/telegraf/pub_keys.json',
      state: '/var/lib/meterproof/state.json',
    });
  });

  it('fails without skip_processors_after_aggregators, or with it false, and says what to add where', () => {
    for (const config of [variant(/skip_processors_after_aggregators = true/, ''), variant(/= true\n/, '= false\n')]) {
      const [f] = failures(config);
      expect(line(f!)).toMatch(
        /^FAIL {2}agent: skip_processors_after_aggregators is (not set|false).*fix: put skip_processors_after_aggregators = true under \[agent\]/,
      );
    }
  });

  it('fails when json_string_fields lacks Time or Signature, and when json_time_key eats Time', () => {
    expect(failures(variant('["Signature", "Time"]', '["Signature"]')).map(line)).toEqual([
      expect.stringMatching(/^FAIL {2}data format: json_string_fields lacks Time: .*fix: json_string_fields = \["Signature", "Time"\]$/),
    ]);
    expect(failures(variant('["Signature", "Time"]', '["Time", "Other"]')).map(line)).toEqual([
      expect.stringMatching(/json_string_fields lacks Signature: .*fix: json_string_fields = \["Time", "Other", "Signature"\]$/),
    ]);
    expect(failures(variant('data_format = "json"', 'data_format = "json"\n  json_time_key = "Time"')).map(line)).toEqual([
      expect.stringMatching(/json_time_key = "Time" consumes the signed Time/),
    ]);
  });

  it('takes the field names from the processor flags, and accepts exact mode only with data_type = "string"', () => {
    const renamed = variant('"--keys"', '"--time-field", "When", "--keys"');
    expect(failures(renamed).map(line)).toEqual([expect.stringMatching(/json_string_fields lacks When/)]);
    const exact = variant(/data_format = "json"\n\s*json_string_fields = .*\n/, 'data_format = "value"\n  data_type = "string"\n');
    expect(failures(exact)).toEqual([]);
    const untyped = variant(/data_format = "json"\n\s*json_string_fields = .*\n/, 'data_format = "value"\n');
    expect(failures(untyped).map(line)).toEqual([expect.stringMatching(/needs data_type = "string"/)]);
    const influx = variant(/data_format = "json"\n\s*json_string_fields = .*\n/, '');
    expect(failures(influx).map(line)).toEqual([expect.stringMatching(/data_format is not set \(influx\)/)]);
  });

  it('fails without topic_parsing to the device tag, and when options sit below the topic_parsing table', () => {
    expect(failures(variant(/ {2}\[\[inputs\.mqtt_consumer\.topic_parsing\]\]\n.*\n.*\n/, '')).map(line)).toEqual([
      expect.stringMatching(/^FAIL {2}topic_parsing: nothing sets the device tag/),
    ]);
    expect(failures(variant('tags = "_/device/_"', 'tags = "_/_/device"')).map(line)).toEqual([
      expect.stringMatching(/nothing sets the device tag/),
    ]);
    const swallowed = variant(/\n\[\[processors/, '\n    qos = 1\n\n[[processors');
    expect(failures(swallowed).map(line)).toEqual([
      expect.stringMatching(/^FAIL {2}topic_parsing: qos sits below \[\[inputs\.mqtt_consumer\.topic_parsing\]\]/),
    ]);
  });

  it('checks namepass against the measurement, and warns when it is missing', () => {
    expect(failures(variant('namepass = ["mqtt_consumer"]', 'namepass = ["cpu"]')).map(line)).toEqual([
      expect.stringMatching(/namepass: \["cpu"\] does not pass "mqtt_consumer"/),
    ]);
    expect(failures(variant('namepass = ["mqtt_consumer"]', 'namepass = ["mqtt_*"]'))).toEqual([]);
    expect(failures(variant('namepass = ["mqtt_consumer"]', 'namepass = ["mqtt_consumer"]\n  namedrop = ["mqtt_*"]')).map(line)).toEqual([
      expect.stringMatching(/namedrop drops "mqtt_consumer"/),
    ]);
    expect(failures(variant('topics = ["tele/+/SENSOR"]', 'topics = ["tele/+/SENSOR"]\n  name_override = "plugs"'))).toHaveLength(1);
    const none = findings(variant('namepass = ["mqtt_consumer"]', ''));
    expect(none.filter((f) => f.level !== 'ok').map(line)).toEqual([expect.stringMatching(/^warn {2}namepass: no namepass/)]);
  });

  it('fails a persistent session without client_id, warns about QoS 0', () => {
    expect(failures(variant('client_id = "telegraf-a"', '')).map(line)).toEqual([
      expect.stringMatching(/without client_id: Telegraf refuses to start/),
    ]);
    expect(findings(variant('qos = 1', 'qos = 0')).filter((f) => f.level === 'warn')).toHaveLength(1);
  });

  it('fails without an execd entry running processor.js, with a string command, without --keys or node', () => {
    expect(failures(variant(/\[\[processors\.execd\]\][^]*$/, '')).map(line)).toEqual([
      expect.stringMatching(/^FAIL {2}execd: no \[\[processors\.execd\]\] section/),
    ]);
    expect(failures(variant(/command = \[.*\]/, 'command = "/usr/bin/node /opt/meterproof/dist/processor.js --keys k"')).map(line)).toEqual(
      [expect.stringMatching(/command is one string/)],
    );
    expect(failures(variant('"--keys", "/etc/telegraf/pub_keys.json", ', '')).map(line)).toEqual([
      expect.stringMatching(/has no --keys FILE/),
    ]);
    expect(failures(variant('"/usr/bin/node", ', '')).map(line)).toEqual([expect.stringMatching(/starts with .*processor\.js", not node/)]);
    // A relative node is the node check's business (it resolves it on the service's PATH), not a failure here.
    expect(checkConfig(variant('"/usr/bin/node"', '"node"')).execd?.node).toBe('node');
  });

  it('merges files as Telegraf does: [agent] from one, plugins from another', () => {
    const [main, extra] = GOOD.split('[[inputs.mqtt_consumer]]');
    const merged = mergeConfigs([toml(main!), toml(`[[outputs.influxdb]]\n  urls = ["http://x"]\n[[inputs.mqtt_consumer]]${extra}`)]);
    expect(failures(merged)).toEqual([]);
    expect((merged.outputs as Table).influxdb).toHaveLength(1);
  });
});

describe('doctor: versions', () => {
  const today = new Date('2026-11-29T12:00:00Z');
  it('fails Node below 20, warns on an end-of-life Node that works, passes 22 and 24', () => {
    expect(line(judgeNodeVersion('v18.20.4\n', '/usr/bin/node', today))).toMatch(
      /^FAIL {2}node version: \/usr\/bin\/node is v18\.20\.4; the processor needs Node\.js 20/,
    );
    expect(line(judgeNodeVersion('v20.20.2\n', '/usr/bin/node', today))).toMatch(
      /^warn {2}.*Node\.js 20 reached its end of life on 2026-04-30/,
    );
    expect(judgeNodeVersion('v20.20.2\n', 'node', new Date('2026-04-30T12:00:00Z')).level).toBe('ok');
    expect(line(judgeNodeVersion('v22.12.0\n', 'node', today))).toMatch(
      /^ok {4}node version: node is v22\.12\.0 \(supported until 2027-04-30\)$/,
    );
    expect(judgeNodeVersion('v24.11.1\n', 'node', today).level).toBe('ok');
    expect(judgeNodeVersion('v25.2.0\n', 'node', today).level).toBe('warn');
    expect(judgeNodeVersion('v30.0.0\n', 'node', today).level).toBe('ok');
    expect(judgeNodeVersion('garbage', 'node', today).level).toBe('FAIL');
  });

  it('fails Telegraf below 1.30, warns on the 256 KiB line limit up to 1.33.2, passes 1.33.3 and later', () => {
    const judge = (v: string) => judgeTelegrafVersion(`Telegraf ${v} (git: HEAD@abc)\n`, '/usr/bin/telegraf');
    expect(line(judge('1.29.5'))).toMatch(/^FAIL {2}telegraf version: Telegraf 1\.29\.5 is older than 1\.30/);
    expect(line(judge('1.30.0'))).toMatch(/^warn {2}telegraf version: Telegraf 1\.30\.0 reads .* 256 KiB line buffer/);
    expect(judge('1.33.2').level).toBe('warn');
    expect(judge('1.33.3').level).toBe('ok');
    expect(judge('1.39.1').level).toBe('ok');
    expect(judge('v2.0.0').level).toBe('ok');
    expect(judgeTelegrafVersion('nonsense', 't').level).toBe('warn');
  });
});

describe('usage errors', () => {
  const parseArgsError = (message: string, code: string) => Object.assign(new TypeError(message), { code });
  it.each([
    [
      `Unknown option '--frob'. To specify a positional argument starting with a '-', place it at the end`,
      'ERR_PARSE_ARGS_UNKNOWN_OPTION',
      'unknown option --frob',
    ],
    [`Option '--rounds <value>' argument missing`, 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', '--rounds needs a value'],
    [`Option '-h, --help' does not take an argument`, 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', '--help takes no value'],
    [
      `Option '--rounds' argument is ambiguous.\nDid you forget to specify the option argument for '--rounds'?\nTo specify…`,
      'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
      '--rounds needs a value (a value starting with "-" is written --rounds=-VALUE)',
    ],
    [
      `Unexpected argument 'x'. This command does not take positional arguments`,
      'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL',
      'unexpected argument "x"',
    ],
    [`Something new.\nOn two lines`, 'ERR_PARSE_ARGS_SOMETHING', 'something new'],
  ])('%s becomes "%s"', (message, code, expected) => {
    const e = asUsageError(parseArgsError(message, code));
    expect(e?.message).toBe(expected);
    expect(usageLine('demo', e!)).toBe(`meterproof demo: ${expected} (try --help)\n`);
  });

  it('leaves other errors alone, and keeps one hint on one line', () => {
    expect(asUsageError(new TypeError('x is not a function'))).toBeUndefined();
    expect(asUsageError(new Error('boom'))).toBeUndefined();
    expect(usageLine('audit', new UsageError('--db is required (try --help)'))).toBe('meterproof audit: --db is required (try --help)\n');
    expect(usageLine('keys', new UsageError('a\nb'))).toBe('meterproof keys: a b (try --help)\n');
  });
});
