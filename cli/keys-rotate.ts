/** `meterproof keys rotate`: a plug's new key (after a hard reset) takes over from its old one at a given time. */
import { parseArgs } from 'node:util';
import { signedTime } from '../core/firmware';
import { KeyRejected, parsePublicKey } from '../core/pubkey';
import { UsageError } from './command';
import {
  addKey,
  diffLine,
  endKey,
  entriesOf,
  keyName,
  loadKeyFile,
  localTime,
  otherDevicesWithKey,
  requireNoRefused,
  windowText,
  keyFileArg,
  SUBCOMMAND_OPTIONS,
} from './keys-shared';
import { confirm } from './prompt';

const HELP = `Usage: meterproof keys rotate --keys FILE --device NAME --key HEX [--at TIME] [--label TEXT] [--yes]

After a hard reset (seven power cycles or Reset 1) a plug makes a new key pair and its energy Total
restarts near zero. This ends the device's current key(s) at TIME (not_after) and registers the new key
from TIME (not_before). The processor then accepts the new key's lower Total as a restart, not as a
rollback, for readings signed from TIME on.

  --key HEX      the new key: the Public Key row of the plug's Information page
  --at TIME      YYYY-MM-DDTHH:MM:SS (or YYYY-MM-DD, its first second) in the plug's local time, like
                 its Time; default now on this machine's clock and time zone
  --label TEXT   label of the new entry (default: "rotated in at TIME")
  --yes          do not ask before writing (a script or CI, where stdin is no terminal, is never asked)

Exit status: 0 rotated, 1 you declined, 2 bad usage (a refused key, an unknown device, a bad TIME).
`;

export async function rotate(args: string[]): Promise<number> {
  const parsed = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...SUBCOMMAND_OPTIONS,
      device: { type: 'string' },
      key: { type: 'string' },
      at: { type: 'string' },
      label: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
    },
  });
  const file = keyFileArg(HELP, parsed);
  if (file === undefined) return 0;
  const v = parsed.values;
  if (!v.device) throw new UsageError('--device NAME is required');
  if (!v.key) throw new UsageError('--key HEX is required (the new key, from the plug’s Information page)');
  let key: string;
  try {
    key = parsePublicKey(v.key).hex;
  } catch (e) {
    if (e instanceof KeyRejected) throw new UsageError(`key ${e.message}`);
    throw e;
  }
  const at =
    v.at === undefined
      ? localTime()
      : v.at.length === 10
        ? signedTime(`${v.at}T00:00:00`)
        : v.at.length === 19
          ? signedTime(v.at)
          : undefined;
  if (!at) throw new UsageError(`--at must be YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD, got "${v.at}"`);
  const device = v.device;

  const k = loadKeyFile(file);
  requireNoRefused(k, file, device);
  const entries = entriesOf(k, device);
  if (!entries.length) {
    throw new UsageError(
      `device "${device}" has no key in ${file}: register its first key with \`meterproof keys enroll\` or \`keys add\``,
    );
  }
  if (entries.some((e) => e.key.hex === key)) throw new UsageError(`device "${device}" already has this key in ${file}`);
  const ending = entries.filter((e) => !e.revoked && (e.notAfter === undefined || e.notAfter > at));
  const late = ending.find((e) => e.notBefore !== undefined && e.notBefore > at);
  if (late) throw new UsageError(`the key ${keyName(late.key.hex)} only becomes valid at ${late.notBefore}, after --at ${at}`);

  const say = (s: string) => process.stdout.write(s);
  say(`changes to ${file} (at ${at}, device-local time):\n`);
  for (const e of ending) say(diffLine(device, `${keyName(e.key.hex)} ${windowText(e)}`, windowText({ ...e, notAfter: at })));
  say(diffLine(device, 'none', `${keyName(key)} ${windowText({ notBefore: at })}`));
  const twins = otherDevicesWithKey(k, key, device);
  if (twins.length) {
    process.stderr.write(`meterproof keys: warning: the same key is registered for ${twins.map((d) => `"${d}"`).join(', ')}\n`);
  }
  if (!(await confirm('Write this change?', v.yes))) {
    say('not written\n');
    return 1;
  }
  // New key first: every file written on the way is one the processor may load, and a reading signed
  // by the new key verifies from the first write on.
  await addKey(file, device, key, { notBefore: at, label: v.label ?? `rotated in at ${at}` });
  for (const e of ending) await endKey(file, device, e.key.hex, at);
  say(`rotated device "${device}": old key(s) end at ${at}, the new key is valid from ${at} and its Total may restart near zero\n`);
  return 0;
}
