/**
 * What `meterproof keys enroll`, `discover` and `rotate` share: reading the key file, describing keys
 * and changes to people, and changing the file. Every change goes through `meterproof keys add` and
 * `revoke` (cli/keys.ts), so the file is written, checked and replaced exactly as they do it.
 */
import { readFileSync } from 'node:fs';
import { KeyFileError, parseKeyFile, type KeyEntry, type KeyFile } from '../core/keyfile';
import { UsageError } from './command';
import { fingerprint, keys } from './keys';

export { fingerprint };

/** The options every `keys` subcommand takes, beside its own. */
export const SUBCOMMAND_OPTIONS = { keys: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

/**
 * What every `keys` subcommand checks first, in this order: `--help` prints `help` (then undefined: exit
 * 0), no positional argument, `--keys FILE` given. Returns that file.
 */
export function keyFileArg(help: string, parsed: { values: { keys?: string; help?: boolean }; positionals: string[] }): string | undefined {
  if (parsed.values.help) {
    process.stdout.write(help);
    return undefined;
  }
  if (parsed.positionals.length) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  if (!parsed.values.keys) throw new UsageError('--keys FILE is required');
  return parsed.values.keys;
}

/**
 * The key file as the processor would load it; a missing one holds no keys yet (writing creates it, as
 * `keys add` does), an unreadable or unusable one is a usage error.
 */
export function loadKeyFile(file: string): KeyFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return parseKeyFile('{}');
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return parseKeyFile(text);
  } catch (e) {
    if (e instanceof KeyFileError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

/** Devices other than `device` that hold `keyHex`: one key under two names is worth a second look. */
export function otherDevicesWithKey(k: KeyFile, keyHex: string, device: string): string[] {
  return [...k.devices].filter(([d, list]) => d !== device && list.some((e) => e.key.hex === keyHex)).map(([d]) => d);
}

/** `3b6a27bcceb6… (fingerprint 1a:2b:…)`: how a key is named on screen. */
export const keyName = (hex: string): string => `${hex.slice(0, 12)}… (fingerprint ${fingerprint(hex)})`;

/** An entry's validity window as `keys list` shows it. */
export function windowText(e: { notBefore?: string | undefined; notAfter?: string | undefined; revoked?: boolean }): string {
  const w = e.notBefore || e.notAfter ? `${e.notBefore ?? '…'} to ${e.notAfter ?? '…'}` : 'always';
  return e.revoked ? `${w}, revoked` : w;
}

/** One line of a change to the file: `device: before → after`. */
export const diffLine = (device: string, before: string, after: string): string => `  ${device}: ${before} → ${after}\n`;

export const TOFU_NOTE =
  "Reading a plug's page is trust on first use over the local network: whoever answered in the plug's place " +
  'could have given their own key. Compare the fingerprint with the Public Key row of the plug’s Information page ' +
  '(`meterproof keys list` shows the same fingerprint), ideally from a network path you trust.\n';

/** Words a POSIX shell reads back as they are. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The exact command that replaces a device's key after a hard reset. */
export const rotateCommand = (file: string, device: string, keyHex: string): string =>
  `meterproof keys rotate --keys ${shellQuote(file)} --device ${shellQuote(device)} --key ${keyHex}`;

/** Now as device-local `YYYY-MM-DDTHH:MM:SS`, the shape of Tasmota's Time, from this machine's clock and zone. */
export function localTime(at = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${String(at.getFullYear()).padStart(4, '0')}-${p(at.getMonth() + 1)}-${p(at.getDate())}` +
    `T${p(at.getHours())}:${p(at.getMinutes())}:${p(at.getSeconds())}`
  );
}

/** Registers a key through `meterproof keys add`. */
export async function addKey(file: string, device: string, keyHex: string, o: { notBefore?: string; label?: string } = {}): Promise<void> {
  await keysCommand([
    'add',
    `--keys=${file}`,
    `--device=${device}`,
    `--key=${keyHex}`,
    ...(o.notBefore ? [`--not-before=${o.notBefore}`] : []),
    ...(o.label ? [`--label=${o.label}`] : []),
  ]);
}

/** Ends a key's validity at `notAfter` through `meterproof keys revoke --not-after`. */
export async function endKey(file: string, device: string, keyHex: string, notAfter: string): Promise<void> {
  await keysCommand(['revoke', `--keys=${file}`, `--device=${device}`, `--key=${keyHex}`, `--not-after=${notAfter}`]);
}

async function keysCommand(args: string[]): Promise<void> {
  const code = await keys.run(args);
  if (code !== 0) throw new UsageError(`meterproof keys ${args[0]} exited with ${code}`);
}

/** The entries of `device`, or none. */
export const entriesOf = (k: KeyFile, device: string): readonly KeyEntry[] => k.devices.get(device) ?? [];

/** Why the processor refuses some of `device`'s entries; empty when it refuses none. */
export const refusedFor = (k: KeyFile, device: string): string[] => k.rejected.filter((r) => r.device === device).map((r) => r.reason);

/** A usage error when the file holds entries for `device` that the processor refuses: fix those first. */
export function requireNoRefused(k: KeyFile, file: string, device: string): void {
  const refused = refusedFor(k, device);
  if (refused.length) throw new UsageError(`${file}: ${refused.join('; ')}: fix or remove that entry first`);
}
