/** `meterproof keys enroll`: registers the public key a plug shows on its Information page. */
import { parseArgs } from 'node:util';
import { UsageError } from './command';
import {
  addKey,
  diffLine,
  entriesOf,
  fingerprint,
  keyName,
  loadKeyFile,
  otherDevicesWithKey,
  requireNoRefused,
  rotateCommand,
  TOFU_NOTE,
  windowText,
  keyFileArg,
  SUBCOMMAND_OPTIONS,
} from './keys-shared';
import { informationUrl, PlugPageError, readPlugPage } from './plug-page';
import { confirm } from './prompt';

const HELP = `Usage: meterproof keys enroll --keys FILE --plug URL [--device NAME] [--web-password PW] [--yes]

Reads the Public Key row of the plug's Information page (GET http://<plug>/in) and registers it for
the device: by default the page's MQTT Topic, the <topic> of tele/<topic>/SENSOR.

  --plug URL           the plug: http://<ip or hostname>, or the IP alone
  --device NAME        register under this name instead of the page's MQTT Topic
  --web-password PW    the plug's WebPassword (HTTP Basic auth, user admin); also from
                       $TASMOTA_WEB_PASSWORD (prefer the variable: arguments show in ps)
  --label TEXT         label of the new entry (default: where and when it was enrolled)
  --yes                do not ask before writing (a script or CI, where stdin is no terminal, is never asked)

Reading a plug's page is trust on first use over the local network: compare the fingerprint printed
with the plug's page. A key already registered is left alone; a device that has a different key is
never changed here: use \`meterproof keys rotate\` (the command is printed).

Exit status: 0 registered (or already registered), 1 the page has no Public Key (unsigned firmware),
the device has another key, or you declined; 2 bad usage, unusable key file, plug unreachable or
refusing the password.
`;

export async function enroll(args: string[]): Promise<number> {
  const parsed = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...SUBCOMMAND_OPTIONS,
      plug: { type: 'string' },
      device: { type: 'string' },
      'web-password': { type: 'string' },
      label: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
    },
  });
  const file = keyFileArg(HELP, parsed);
  if (file === undefined) return 0;
  const v = parsed.values;
  if (!v.plug) throw new UsageError('--plug URL is required (the plug, e.g. http://192.168.1.50)');
  if (v.device === '') throw new UsageError('--device must not be empty');
  let url: URL;
  try {
    url = informationUrl(v.plug);
  } catch (e) {
    throw new UsageError(`--plug: ${(e as Error).message}`);
  }
  loadKeyFile(file); // a missing or broken key file stops us before the plug is asked

  let page;
  try {
    page = await readPlugPage(url, { password: v['web-password'] ?? process.env.TASMOTA_WEB_PASSWORD });
  } catch (e) {
    if (e instanceof PlugPageError) throw new UsageError(e.message);
    throw e;
  }
  const device = v.device ?? page.topic;
  if (!device) throw new UsageError(`${url.href} shows no MQTT Topic (is MQTT off on the plug?): give --device NAME`);
  const say = (s: string) => process.stdout.write(s);
  say(`plug ${url.origin}: device "${device}"${v.device ? '' : ' (its MQTT Topic)'}${page.version ? `, firmware ${page.version}` : ''}\n`);
  if (!page.publicKey) {
    process.stderr.write(
      `meterproof keys enroll: ${url.href} has no Public Key row: the plug runs unsigned firmware ` +
        '(not the BC4P fork with Ed25519 signatures); nothing registered\n',
    );
    return 1;
  }
  const key = page.publicKey;
  say(`public key  ${key}\nfingerprint ${fingerprint(key)}\n${TOFU_NOTE}`);

  const k = loadKeyFile(file);
  requireNoRefused(k, file, device);
  const entries = entriesOf(k, device);
  const same = entries.find((e) => e.key.hex === key);
  if (same?.revoked) {
    process.stderr.write(`meterproof keys enroll: this key is revoked for device "${device}" in ${file}; it is not registered again\n`);
    return 1;
  }
  if (same) {
    say(`device "${device}" already has this key in ${file} (${windowText(same)}): nothing to do\n`);
    return 0;
  }
  if (entries.length) {
    process.stderr.write(
      `meterproof keys enroll: device "${device}" has another key in ${file} ` +
        `(${entries.map((e) => fingerprint(e.key.hex)).join(', ')}); the plug now shows ${fingerprint(key)}. ` +
        'A hard reset makes a new key; if that is what happened, replace it with:\n' +
        `  ${rotateCommand(file, device, key)}\n`,
    );
    return 1;
  }
  const twins = otherDevicesWithKey(k, key, device);
  if (twins.length) {
    process.stderr.write(`meterproof keys: warning: the same key is registered for ${twins.map((d) => `"${d}"`).join(', ')}\n`);
  }

  say(`changes to ${file}:\n${diffLine(device, 'none', keyName(key))}`);
  if (!(await confirm('Write this change?', v.yes))) {
    say('not written\n');
    return 1;
  }
  await addKey(file, device, key, { label: v.label ?? `enrolled from ${url.host} on ${new Date().toISOString().slice(0, 10)}` });
  return 0;
}
