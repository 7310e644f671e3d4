/** `meterproof simulate` (the built dist/meterproof.js) against a real Mosquitto. */
import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type MosquittoServer } from '../harness/mosquitto';
import { waitFor } from '../harness/ports';
import { completion, runCli, runCliOnTerminal, spawnCli } from '../harness/cli';

const USER = 'sim-user';
const PASSWORD = 'pa ss:word';

/** An Ed25519 public key from its 32 raw bytes, for checking what the plugs signed. */
const publicKey = (hex: string) =>
  createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(hex, 'hex').toString('base64url') }, format: 'jwk' });

describe('meterproof simulate', () => {
  let broker: MosquittoServer;
  let dir: string;
  let subscriber: MqttClient;
  const received: { topic: string; payload: string }[] = [];

  beforeAll(async () => {
    broker = await startMosquitto({ users: { [USER]: PASSWORD } });
    dir = await mkdtemp(join(tmpdir(), 'meterproof-sim-'));
    subscriber = await connectAsync(broker.url, { username: USER, password: PASSWORD });
    await subscriber.subscribeAsync('tele/+/SENSOR', { qos: 1 });
    subscriber.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  });

  afterAll(async () => {
    await subscriber?.endAsync();
    await broker?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const auth = { MQTT_USERNAME: USER, MQTT_PASSWORD: PASSWORD };

  it('--help explains the options and exits 0', async () => {
    const res = await runCli(['simulate', '--help']);
    expect(res.code).toBe(0);
    for (const option of [
      '--broker',
      '--devices',
      '--interval',
      '--count',
      '--energy-res',
      '--phases',
      '--zone',
      '--tampered',
      '--replayed',
      '--unsigned',
      '--unknown',
      '--seed',
      '--keys-out',
    ]) {
      expect(res.stdout).toContain(option);
    }
  });

  it.each([
    [['--tampered', '2'], /--tampered/],
    [['--phases', '2'], /--phases/],
    [['--qos', '3'], /--qos/],
    [['--broker', 'http://127.0.0.1:1883'], /--broker/],
    [['--count', '-1'], /count/],
    [['--frobnicate'], /frobnicate/],
  ])('refuses %j with exit 2 and a clear message', async (args, message) => {
    const res = await runCli(['simulate', ...args]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
  });

  it('exits 2 when the broker refuses the credentials or cannot be reached', async () => {
    const refused = await runCli(['simulate', '--broker', broker.url, '--count', '1'], {
      env: { MQTT_USERNAME: USER, MQTT_PASSWORD: 'wrong' },
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/cannot connect.*Not authorized/i);
    const closed = await runCli(['simulate', '--broker', 'mqtt://127.0.0.1:1', '--count', '1']);
    expect(closed.code).toBe(2);
    expect(closed.stderr).toMatch(/cannot connect/);
  });

  it('publishes signed readings the registry it writes can verify, with stable keys per seed', async () => {
    received.length = 0;
    const keysA = join(dir, 'a.json');
    const res = await runCli(
      [
        'simulate',
        '--broker',
        broker.url,
        '--devices',
        '4',
        '--count',
        '3',
        '--interval',
        '10',
        '--phases',
        '0.5',
        '--energy-res',
        '2',
        '--zone',
        '+01:00',
        '--seed',
        'stable',
        '--keys-out',
        keysA,
      ],
      { env: auth },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe(''); // quiet when piped
    await waitFor('12 messages', async () => received.length >= 12, 5000);
    expect(received).toHaveLength(12);

    const keys = JSON.parse(await readFile(keysA, 'utf8')) as Record<string, string>;
    expect(Object.keys(keys)).toEqual(['plug-01', 'plug-02', 'plug-03', 'plug-04']);
    for (const { topic, payload } of received) {
      const device = topic.split('/')[1]!;
      const m = /^\{"Time":"(.{19})\+01:00","Signature":"([0-9a-f]{128})",.*"Total":(\[[\d.,]+\]|[\d.]+),/.exec(payload);
      expect(m, payload).not.toBeNull();
      const [, time19, signature, total] = m!;
      expect(total).toMatch(/^\[?\d+\.\d\d(,\d+\.\d\d)*\]?$/); // EnergyRes 2, trailing zeros kept
      expect(verify(null, Buffer.from(`${time19},${total}`), publicKey(keys[device]!), Buffer.from(signature!, 'hex'))).toBe(true);
    }
    expect(received.filter((r) => r.payload.includes('"Total":[')).length).toBe(6); // half the plugs are three-phase

    const keysB = join(dir, 'b.json');
    const again = await runCli(
      ['simulate', '--broker', broker.url, '--devices', '4', '--count', '1', '--seed', 'stable', '--keys-out', keysB],
      { env: auth },
    );
    expect(again.code).toBe(0);
    expect(await readFile(keysB, 'utf8')).toBe(await readFile(keysA, 'utf8'));
    const other = join(dir, 'c.json');
    expect(
      (
        await runCli(['simulate', '--broker', broker.url, '--devices', '4', '--count', '1', '--seed', 'other', '--keys-out', other], {
          env: auth,
        })
      ).code,
    ).toBe(0);
    const otherKeys = JSON.parse(await readFile(other, 'utf8')) as Record<string, string>;
    for (const name of Object.keys(keys)) expect(otherKeys[name]).not.toBe(keys[name]);
  });

  it('on Ctrl-C finishes the round in flight, disconnects and exits 0', async () => {
    received.length = 0;
    const sim = await spawnCli(['simulate', '--broker', broker.url, '--devices', '5', '--count', '0', '--interval', '20'], auth);
    const done = completion(sim, 20_000);
    await waitFor('a few rounds', async () => received.length >= 15, 10_000);
    sim.kill('SIGINT');
    const res = await done;
    expect(res.signal).toBeNull();
    expect(res.code, res.stderr).toBe(0);
    const settled = received.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(received.length).toBe(settled);
    expect(received.length % 5).toBe(0); // whole rounds: no publish was abandoned
  });

  it('shows a live count on a terminal', async () => {
    const res = await runCliOnTerminal(
      ['simulate', '--broker', broker.url, '--devices', '2', '--count', '3', '--interval', '10', '--unknown', '0.5'],
      auth,
    );
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('\r\x1b[2Ksent 6 messages to');
    expect(res.stdout).toContain('(3 genuine, 3 unknown-key)');
  });
});
