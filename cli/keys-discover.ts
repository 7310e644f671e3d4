/**
 * `meterproof keys discover`: lists the plugs that announce themselves on MQTT (Tasmota discovery,
 * retained on `tasmota/discovery/<MAC>/config`), reads each one's Information page, and says how its
 * key stands against the key file; `--enroll` registers the plugs not registered yet.
 */
import { parseArgs } from 'node:util';
import { hasBracedSignature } from '../core/payload/early-firmware';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync, type MqttClient } from 'mqtt';
import { textTable } from '../core/text-table';
import type { KeyFile } from '../core/keyfile';
import { EXIT_USAGE, UsageError } from './command';
import {
  addKey,
  diffLine,
  entriesOf,
  fingerprint,
  keyName,
  loadKeyFile,
  otherDevicesWithKey,
  refusedFor,
  rotateCommand,
  TOFU_NOTE,
  keyFileArg,
  SUBCOMMAND_OPTIONS,
} from './keys-shared';
import { informationUrl, PlugPageError, readPlugPage, type PlugPage } from './plug-page';
import { confirm } from './prompt';

const HELP = `Usage: meterproof keys discover --keys FILE --mqtt URL [--wait SECONDS] [--enroll] [options]

Listens on tasmota/discovery/+/config (Tasmota discovery, on by default: each plug publishes its
config there, retained) and on tele/+/SENSOR, then reads every plug's Information page
(http://<ip>/in) and lists: device (MQTT topic), IP, MAC, firmware, and its key state:
  registered            the plug's key is in the key file
  not registered        the device has no key in the file (--enroll adds it)
  changed on the plug   the device has another key in the file: a hard reset? (the exact
                        \`meterproof keys rotate\` command is printed; nothing is replaced)
  unsigned firmware     the page has no Public Key row
  unreachable           the page could not be read
A plug whose last tele/<topic>/SENSOR message (retained, or seen while waiting) writes its signature
as "Signature": {…} (builds of the fork before 2023-02-10) is flagged: it needs exact mode
(data_format = "value" in telegraf.conf).

  --mqtt URL           the broker: mqtt://, mqtts://, ws:// or wss://
  --username NAME      broker login, also from $MQTT_USERNAME
  --password SECRET    also from $MQTT_PASSWORD (prefer the variable: arguments show in ps)
  --wait SECONDS       how long to listen (default 5)
  --enroll             register every plug whose device has no key yet (never replaces a key)
  --web-password PW    the plugs' WebPassword (HTTP Basic auth, user admin); also from
                       $TASMOTA_WEB_PASSWORD
  --yes                with --enroll: do not ask before writing (stdin not a terminal: never asked)

Reading a plug's page is trust on first use over the local network: compare the fingerprints.

Exit status: 0 every plug was read and no key changed, 1 some plug could not be read, a key changed
on a plug, or two plugs share a topic, 2 bad usage, unusable key file or broker unreachable.
`;

/** A plug as its discovery config describes it. */
interface Announced {
  readonly mac: string;
  readonly ip: string;
  readonly topic: string;
  readonly firmware: string;
}

type KeyState = 'registered' | 'not registered' | 'changed on the plug' | 'unsigned firmware' | 'unreachable';

interface Found {
  readonly plug: Announced;
  readonly device: string;
  readonly state: KeyState;
  readonly key?: string;
  readonly notes: string[];
  /** Why the page could not be read. */
  readonly problem?: string;
  /** The key file's refused entries for this device: it is not enrolled until they are fixed. */
  readonly refused?: string[];
}

const DISCOVERY = 'tasmota/discovery/+/config';
const SENSOR = 'tele/+/SENSOR';
const PAGE_READS_AT_ONCE = 8;

export async function discover(args: string[]): Promise<number> {
  const parsed = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...SUBCOMMAND_OPTIONS,
      mqtt: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      wait: { type: 'string' },
      enroll: { type: 'boolean' },
      'web-password': { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
    },
  });
  const file = keyFileArg(HELP, parsed);
  if (file === undefined) return 0;
  const v = parsed.values;
  if (!v.mqtt) throw new UsageError('--mqtt URL is required (the broker the plugs publish to, e.g. mqtt://192.168.1.2:1883)');
  if (!/^(mqtts?|wss?):\/\/[^/]/.test(v.mqtt))
    throw new UsageError(`--mqtt must be an mqtt://, mqtts://, ws:// or wss:// URL, got "${v.mqtt}"`);
  const wait = Number(v.wait ?? '5');
  if (!/^\d+(\.\d+)?$/.test(v.wait ?? '5') || !(wait > 0 && wait <= 3600)) {
    throw new UsageError(`--wait must be a number of seconds above 0 and at most 3600, got "${v.wait}"`);
  }
  loadKeyFile(file); // a missing or broken key file stops us before the broker is asked
  const username = v.username ?? process.env.MQTT_USERNAME;
  const password = v.password ?? process.env.MQTT_PASSWORD;
  const webPassword = v['web-password'] ?? process.env.TASMOTA_WEB_PASSWORD;

  const heard = await listen(v.mqtt, wait, username, password);
  if (heard === undefined) return EXIT_USAGE;
  const { plugs, sensors } = heard;
  const say = (s: string) => process.stdout.write(s);
  if (!plugs.size) {
    say(
      `no plug announced itself on ${DISCOVERY} at ${v.mqtt} within ${wait} s (Tasmota discovery is on unless SetOption19 or SetOption114 changed it)\n`,
    );
    return 0;
  }

  const pages = await mapLimited([...plugs.values()], PAGE_READS_AT_ONCE, async (p) => {
    try {
      return await readPlugPage(informationUrl(p.ip), { ...(webPassword !== undefined && { password: webPassword }) });
    } catch (e) {
      if (e instanceof PlugPageError || e instanceof RangeError) return e;
      throw e;
    }
  });
  const k = loadKeyFile(file);
  const found = [...plugs.values()].map((p, i) => judge(p, pages[i]!, k, sensors));
  found.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.plug.mac < b.plug.mac ? -1 : 1));

  // Two plugs publishing as one device would vouch for each other's readings: enrol neither.
  const byDevice = new Map<string, Found[]>();
  for (const f of found) byDevice.set(f.device, [...(byDevice.get(f.device) ?? []), f]);
  const shared = new Set<string>();
  for (const [device, list] of byDevice) {
    if (list.length < 2) continue;
    shared.add(device);
    for (const f of list)
      f.notes.push(
        `topic shared with ${list
          .filter((o) => o !== f)
          .map((o) => o.plug.mac)
          .join(', ')}`,
      );
  }

  say(`${found.length} plug${found.length === 1 ? '' : 's'} announced on ${v.mqtt}; keys from ${file}\n`);
  say(
    textTable(
      ['device', 'ip', 'mac', 'firmware', 'key', 'fingerprint', 'note'],
      found.map((f) => [f.device, f.plug.ip, f.plug.mac, f.plug.firmware, f.state, f.key ? fingerprint(f.key) : '', f.notes.join('; ')]),
    ),
  );
  for (const f of found) {
    if (f.problem) process.stderr.write(`meterproof keys discover: ${f.device} (${f.plug.ip}): ${f.problem}\n`);
  }
  const changed = found.filter((f) => f.state === 'changed on the plug');
  if (changed.length) {
    say(
      `\nA key changed on ${changed.length} plug${changed.length === 1 ? '' : 's'} (a hard reset makes a new key); nothing was replaced. ` +
        'If the reset was expected, run:\n',
    );
    for (const f of changed) say(`  ${rotateCommand(file, f.device, f.key!)}\n`);
  }
  const problems = found.some((f) => f.state === 'unreachable' || f.state === 'changed on the plug' || f.refused) || shared.size > 0;

  if (v.enroll) {
    const enrol = found.filter((f) => f.state === 'not registered' && f.key && !shared.has(f.device) && !f.refused);
    if (!enrol.length) {
      say('\nnothing to enroll\n');
    } else {
      say(`\n${TOFU_NOTE}changes to ${file}:\n`);
      for (const f of enrol) say(diffLine(f.device, 'none', keyName(f.key!)));
      if (!(await confirm(`Register ${enrol.length} key${enrol.length === 1 ? '' : 's'}?`, v.yes))) {
        say('not written\n');
        return 1;
      }
      const today = new Date().toISOString().slice(0, 10);
      for (const f of enrol) await addKey(file, f.device, f.key!, { label: `enrolled from ${f.plug.ip} (MAC ${f.plug.mac}) on ${today}` });
      say(`enrolled ${enrol.length} plug${enrol.length === 1 ? '' : 's'}\n`);
    }
  }
  return problems ? 1 : 0;
}

/** The discovery configs and last SENSOR payloads heard in `wait` seconds; undefined (after saying why) if the broker cannot be used. */
async function listen(
  url: string,
  wait: number,
  username?: string,
  password?: string,
): Promise<{ plugs: Map<string, Announced>; sensors: Map<string, string> } | undefined> {
  let client: MqttClient;
  try {
    client = await connectAsync(
      url,
      {
        clientId: `meterproof-discover-${process.pid}`,
        connectTimeout: 10_000,
        reconnectPeriod: 0,
        ...(username !== undefined && { username }),
        ...(password !== undefined && { password }),
      },
      false,
    );
  } catch (e) {
    process.stderr.write(`meterproof keys discover: cannot connect to ${url}: ${(e as Error).message}\n`);
    return undefined;
  }
  const plugs = new Map<string, Announced>();
  const sensors = new Map<string, string>();
  let lost: Error | undefined;
  client.on('error', (e) => (lost ??= e));
  client.on('message', (topic, payload) => {
    const parts = topic.split('/');
    if (parts[0] === 'tele' && parts.length === 3) {
      sensors.set(parts[1]!, payload.toString('utf8'));
      return;
    }
    const id = parts[2] ?? '';
    if (!payload.length) {
      plugs.delete(id); // an empty retained message withdraws a config
      return;
    }
    const plug = announced(id, payload.toString('utf8'));
    if (plug) plugs.set(id, plug);
    else process.stderr.write(`meterproof keys: warning: ignored ${topic}: not a Tasmota discovery config with ip and t\n`);
  });
  try {
    const granted = await client.subscribeAsync([DISCOVERY, SENSOR], { qos: 0 });
    const denied = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (denied.length) throw new Error(`the broker refused the subscription to ${denied.join(' and ')}`);
    await sleep(wait * 1000);
  } catch (e) {
    lost ??= e as Error;
  }
  await client.endAsync().catch(() => undefined);
  if (lost) {
    process.stderr.write(`meterproof keys discover: ${url}: ${lost.message}\n`);
    return undefined;
  }
  return { plugs, sensors };
}

function announced(id: string, text: string): Announced | undefined {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const c = o as Record<string, unknown>;
  if (typeof c.ip !== 'string' || !c.ip || typeof c.t !== 'string' || !c.t) return undefined;
  return {
    mac: typeof c.mac === 'string' && c.mac ? c.mac : id,
    ip: c.ip,
    topic: c.t,
    firmware: typeof c.sw === 'string' ? c.sw : '?',
  };
}

function judge(plug: Announced, page: PlugPage | Error, k: KeyFile, sensors: ReadonlyMap<string, string>): Found {
  const notes: string[] = [];
  const device = page instanceof Error || !page.topic ? plug.topic : page.topic;
  if (!(page instanceof Error) && page.topic && page.topic !== plug.topic) notes.push(`discovery says topic "${plug.topic}"`);
  const sensor = sensors.get(device) ?? sensors.get(plug.topic);
  if (sensor !== undefined && hasBracedSignature(sensor))
    notes.push('early firmware "Signature": {…}: needs exact mode, data_format = "value"');
  if (page instanceof Error) {
    notes.push(page instanceof PlugPageError ? SHORT[page.kind] : 'bad address');
    return { plug, device, state: 'unreachable', notes, problem: page.message };
  }
  const key = page.publicKey;
  if (!key) return { plug, device, state: 'unsigned firmware', notes };
  const twins = otherDevicesWithKey(k, key, device);
  if (twins.length) notes.push(`same key as ${twins.map((d) => `"${d}"`).join(', ')}`);
  const refused = refusedFor(k, device);
  if (refused.length) notes.push('key file entry refused (see `meterproof keys check`)');
  const entries = entriesOf(k, device);
  const mine = entries.find((e) => e.key.hex === key);
  if (mine) {
    if (mine.revoked) notes.push('revoked in the key file');
    return { plug, device, state: 'registered', key, notes };
  }
  return { plug, device, state: entries.length ? 'changed on the plug' : 'not registered', key, notes, ...(refused.length && { refused }) };
}

const SHORT: Record<PlugPageError['kind'], string> = {
  unreachable: 'no connection',
  refused: 'closed without answer (Referer check?)',
  auth: 'web password needed or refused',
  http: 'HTTP error',
  page: 'not an Information page',
};

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
