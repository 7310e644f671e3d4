/** doctor's checks of the machine: node, the processor, sodium-native, the key file, the state folder, Telegraf. */
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { KeyFileError, parseKeyFile } from '../../core/keyfile';
import { hexToBytes, parsePublicKey } from '../../core/pubkey';
import { nativePointCheck, sodiumRoutes, sodiumVerifier } from '../../core/node/verifier';
import { currentAccount, look, SERVICE_PATH, which, type AccountAccess } from './account';
import { fail, ok, warn, type Finding } from './finding';
import { judgeNodeVersion } from './node-release';
import { judgeTelegrafVersion } from './telegraf';

const INSTALL_NODE = 'install Node.js 22 or 24 LTS system-wide (docs/install.md)';
/** `sudo ` when doctor is not root, for the fixes it prints. */
const sudo = () => (process.getuid!() === 0 ? '' : 'sudo ');

/** The first line of a program's complaint, preferring Telegraf-style `E! ` and Node's `Error:` lines. */
function complaint(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /^(E! |Error|setpriv:)/.test(l)) ?? lines[0] ?? 'no output';
}

const cannotEnter = (access: AccountAccess, path: string): string => {
  const blocked = access.blockedFolder(path);
  return blocked ? ` (${access.account.name} cannot enter ${blocked})` : '';
};

/** The fix for a path the account cannot reach: open the folder in the way, else `otherwise`. */
const reach = (access: AccountAccess, path: string, otherwise: string): string => {
  const blocked = access.blockedFolder(path);
  return blocked ? `let ${access.account.name} enter ${blocked} (e.g. ${sudo()}chmod o+x ${blocked})` : otherwise;
};

/** Where `command` (the execd command's first word) leads for the account; the path when it can be run. */
export function checkNodePath(command: string, access: AccountAccess, fromConfig: boolean): { finding: Finding; node?: string } {
  const what = 'node';
  const { name } = access.account;
  const where = access.how === 'self' ? 'your PATH' : "systemd's PATH for services";
  let origin = fromConfig ? 'from the execd command' : 'as given';
  let node: string | undefined;
  if (isAbsolute(command)) {
    if (!look(command)?.isFile())
      return {
        finding: fail(what, `${command} (${origin}) does not exist`, `${INSTALL_NODE}, or write the path that \`command -v node\` prints`),
      };
    node = command;
  } else if (command.includes('/')) {
    return { finding: fail(what, `"${command}" (${origin}) is a relative path`, 'write the absolute path of node, e.g. /usr/bin/node') };
  } else {
    node = which(command, access.path);
    if (!node) {
      const mine = access.how === 'self' ? undefined : which(command, process.env.PATH ?? '');
      return {
        finding: fail(
          what,
          `no "${command}" on ${where} (${access.path})${mine ? `; yours is ${mine}, which that PATH does not include (nvm?)` : ''}`,
          mine ? `${INSTALL_NODE}, or write an absolute path that ${name} can run` : INSTALL_NODE,
        ),
      };
    }
    if (fromConfig)
      return {
        finding: warn(
          what,
          `"${command}" in the execd command is ${node} on ${where}; Telegraf's own PATH may differ`,
          `write ${node} in the command`,
        ),
        node,
      };
    origin = `the first node on ${where}: write this path in the execd command`;
  }
  if (!access.can(node, 'exec'))
    return {
      finding: fail(what, `${name} cannot run ${node}${cannotEnter(access, node)}`, `${INSTALL_NODE}, or make ${node} runnable by ${name}`),
    };
  let real = node;
  try {
    real = realpathSync(node);
  } catch {
    /* shown as written */
  }
  return { finding: ok(what, `${node}${real !== node ? ` (→ ${real})` : ''}, runnable by ${name}, ${origin}`), node };
}

export function checkNodeVersion(node: string, access: AccountAccess): Finding {
  const r = access.run(node, ['--version']);
  if (r.status !== 0) return fail('node version', `${access.runner} cannot run ${node}: ${complaint(r.stderr)}`, INSTALL_NODE);
  return judgeNodeVersion(r.stdout, node);
}

/** Starts the processor as the execd command would, plus `--version`: node, Node's flags and the processor's flags must all be accepted. */
export function checkProcessor(
  processor: string,
  node: string | undefined,
  args: readonly string[],
  access: AccountAccess,
  version: string,
  withFlags: boolean,
): Finding {
  const what = 'processor';
  const { name } = access.account;
  const st = look(processor);
  if (!st?.isFile()) return fail(what, `${processor} does not exist`, 'npm ci && npm run build in the meterproof folder');
  if (!access.can(processor, 'read'))
    return fail(
      what,
      `${processor} is not readable by ${name}${cannotEnter(access, processor)}`,
      'install meterproof where every user can read it, e.g. /opt/meterproof',
    );
  if (!node) return warn(what, `${processor} exists; not started, as there is no node to start it with`);
  const r = access.run(node, [...args, '--version']);
  const printed = /^meterproof (\S+)$/m.exec(r.stdout)?.[1];
  const shown = `${node} ${args.join(' ')}`;
  if (r.status !== 0 || !printed)
    return fail(what, `${shown} --version as ${name} failed: ${complaint(r.stderr)}`, 'fix the execd command (docs/install.md)');
  if (printed !== version)
    return warn(what, `${processor} is meterproof ${printed}, this doctor is ${version}`, 'npm ci && npm run build, then restart Telegraf');
  return ok(what, `${processor} starts as ${access.runner}${withFlags ? " with the execd command's flags" : ''} (meterproof ${printed})`);
}

// RFC 8032 §7.1 TEST 1 (the empty message).
const VECTOR = {
  key: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

/** sodium-native, found from the processor's folder as the processor finds it, loaded by the processor's own loader. */
export function checkSodium(processor: string): Finding {
  const what = 'sodium-native';
  const folder = dirname(resolve(processor));
  const optional = 'optional accelerator: without it the processor verifies with node:crypto, about half as fast';
  let where: string;
  try {
    where = createRequire(resolve(processor)).resolve('sodium-native');
  } catch {
    return warn(what, `not found from ${folder}: ${optional}`, `npm install sodium-native in ${dirname(folder)}`);
  }
  const { addon, module } = sodiumRoutes();
  const sodium = addon ?? module;
  if (!sodium) {
    let reason = 'it does not load';
    try {
      createRequire(resolve(processor))('sodium-native');
    } catch (e) {
      reason = (e as Error).message.split('\n')[0]!;
    }
    return warn(what, `${dirname(where)}: ${reason}; ${optional}`, `npm rebuild sodium-native in ${dirname(folder)}`);
  }
  const verifier = sodiumVerifier(sodium);
  const key = parsePublicKey(VECTOR.key);
  const signature = hexToBytes(VECTOR.signature);
  const forged = signature.slice();
  forged[5]! ^= 0x10;
  let passed = false;
  try {
    passed =
      verifier.verify(signature, new Uint8Array(0), key) &&
      !verifier.verify(forged, new Uint8Array(0), key) &&
      !sodium.isValidPoint(hexToBytes('0100000000000000000000000000000000000000000000000000000000000000'));
  } catch {
    passed = false;
  }
  if (!passed)
    return fail(
      what,
      `${dirname(where)} loads but fails the RFC 8032 self-test`,
      'remove it, or add "--crypto", "node" to the execd command',
    );
  return ok(what, `libsodium (${addon ? 'prebuilt addon' : 'package'}) from ${dirname(where)} passes the RFC 8032 self-test`);
}

/** Who may read the key file; then whether it is valid, read as doctor. */
export function checkKeyFile(path: string, access: AccountAccess, cli: string): Finding[] {
  const { name, group } = access.account;
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return [
        fail(
          'key file',
          `${path} does not exist`,
          `${sudo()}${cli} keys add --keys ${path} --device <MQTT Topic> --key <64 hex> creates it`,
        ),
      ];
    return [warn('key file', `cannot see ${path} as ${currentName()} (${code}), so it is not checked`, 'run doctor with sudo')];
  }
  if (!st.isFile()) return [fail('key file', `${path} is not a file`)];
  if (!access.can(path, 'read'))
    return [
      fail(
        'key file',
        `${path} is not readable by ${name}${cannotEnter(access, path)}`,
        reach(access, path, `${sudo()}chgrp ${group} ${path} && ${sudo()}chmod g+r ${path}`),
      ),
    ];
  const readable =
    st.mode & 0o002
      ? warn(
          'key file',
          `${path} is writable by every user: anyone on this machine decides which plugs are trusted`,
          `${sudo()}chmod o-w ${path}`,
        )
      : ok('key file', `${path} is readable by ${name}`);

  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return [
      readable,
      warn(
        'keys',
        `cannot read ${path} as ${currentName()} (${(e as NodeJS.ErrnoException).code}), so its keys are not checked`,
        'run doctor with sudo',
      ),
    ];
  }
  let keys;
  try {
    keys = parseKeyFile(bytes, nativePointCheck());
  } catch (e) {
    if (!(e instanceof KeyFileError)) throw e;
    return [readable, fail('keys', `${path}: ${e.message}`, `correct the file (${cli} keys check --keys ${path})`)];
  }
  if (keys.rejected.length) {
    const shown = keys.rejected.slice(0, 3).map((r) => r.reason);
    const more = keys.rejected.length - shown.length;
    return [
      readable,
      fail(
        'keys',
        `${keys.rejected.length} refused: ${shown.join('; ')}${more ? `; and ${more} more` : ''}`,
        `${cli} keys list --keys ${path}, then correct or remove them`,
      ),
    ];
  }
  if (keys.keyCount === 0)
    return [
      readable,
      warn(
        'keys',
        `${path} registers no device: every reading will be unknown_device`,
        `${sudo()}${cli} keys add --keys ${path} --device <MQTT Topic> --key <64 hex>`,
      ),
    ];
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [readable, ok('keys', `${plural(keys.keyCount, 'key')} for ${plural(keys.devices.size, 'device')}, none refused`)];
}

const currentName = () => currentAccount().name;

function folderStat(folder: string) {
  try {
    return statSync(folder, { throwIfNoEntry: false });
  } catch {
    return 'denied' as const;
  }
}

/** The state file's folder must let the account create files (temporary file, rename, lock). */
export function checkStateFolder(path: string, access: AccountAccess): Finding {
  const what = 'state folder';
  const { name, group } = access.account;
  const file = resolve(path);
  const folder = dirname(file);
  const st = folderStat(folder);
  if (st === 'denied') return warn(what, `cannot see ${folder} as ${currentName()}, so it is not checked`, 'run doctor with sudo');
  if (!st) return fail(what, `${folder} does not exist`, `${sudo()}install -d -o ${name} -g ${group} -m 750 ${folder}`);
  if (!st.isDirectory()) return fail(what, `${folder} is not a folder`);
  if (!access.can(folder, 'write'))
    return fail(
      what,
      `${folder} is not writable by ${name}${cannotEnter(access, folder)}`,
      reach(access, folder, `${sudo()}chown ${name}:${group} ${folder}`),
    );
  let state;
  try {
    state = statSync(file, { throwIfNoEntry: false });
  } catch {
    return ok(what, `${folder} is writable by ${name} (you cannot look inside it: sudo checks ${basename(file)} too)`);
  }
  if (!state) return ok(what, `${folder} is writable by ${name} (${basename(file)} appears after the first verified reading)`);
  if (!access.can(file, 'read')) return fail(what, `${file} is not readable by ${name}`, `${sudo()}chown ${name}:${group} ${file}`);
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { devices?: Record<string, unknown> };
    const devices = Object.keys(doc.devices ?? {}).length;
    return ok(what, `${folder} is writable by ${name}; ${basename(file)} remembers ${devices} device${devices === 1 ? '' : 's'}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) return warn(what, `cannot read ${file} (${(e as NodeJS.ErrnoException).code}) to check it`);
    return warn(what, `${file} is not a meterproof state file: the processor will log E! and start afresh`);
  }
}

/** `telegraf --version` of the telegraf on your PATH or systemd's, when there is one. */
export function checkTelegrafVersion(): Finding {
  const binary = which('telegraf', process.env.PATH ?? '') ?? which('telegraf', SERVICE_PATH);
  if (!binary)
    return warn(
      'telegraf version',
      'no telegraf program on PATH, so its version is not checked: 1.30 or later is needed, 1.33.3 or later has no 256 KiB line limit',
    );
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 15_000 });
  return judgeTelegrafVersion(`${r.stdout ?? ''}${r.stderr ?? ''}`, binary);
}
