/** A real Mosquitto broker (Debian's `mosquitto`) on loopback, optionally with password logins. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, requireBinary, stopService, waitFor } from './ports';

const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

export interface MosquittoServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** `users` switches anonymous access off and admits only these name/password pairs. */
export async function startMosquitto(opts: { users?: Record<string, string> } = {}): Promise<MosquittoServer> {
  await requireBinary(MOSQUITTO, 'mosquitto');
  const dir = await mkdtemp(join(tmpdir(), 'meterproof-mosquitto-'));
  const port = await freePort();
  const config = [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning'];
  if (opts.users) {
    await requireBinary(MOSQUITTO_PASSWD, 'mosquitto');
    const passwd = join(dir, 'passwd');
    await writeFile(passwd, '', { mode: 0o644 });
    // Started as root, mosquitto drops to its own user before it reads the password file.
    await chmod(dir, 0o755);
    for (const [user, password] of Object.entries(opts.users)) {
      await promisify(execFile)(MOSQUITTO_PASSWD, ['-b', passwd, user, password]);
    }
    config.push('allow_anonymous false', `password_file ${passwd}`);
  } else {
    config.push('allow_anonymous true');
  }
  await writeFile(join(dir, 'mosquitto.conf'), `${config.join('\n')}\n`);

  const proc: ChildProcess = spawn(MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`mosquitto exited (${code}): ${stderr}`))));
  exited.catch(() => undefined); // only the race below cares; a later exit (stop) is expected
  try {
    await Promise.race([waitFor('mosquitto', () => accepts(port)), exited]);
  } catch (e) {
    proc.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw e;
  }

  const stop = () => stopService(proc, dir);
  return { url: `mqtt://127.0.0.1:${port}`, port, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
