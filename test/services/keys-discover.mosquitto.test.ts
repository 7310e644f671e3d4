/**
 * `meterproof keys discover` (the built CLI) against a real Mosquitto and fake plugs at their own loopback
 * IPs on port 80, announced the way Tasmota discovery does it (retained on tasmota/discovery/<MAC>/config).
 * The story of a fleet: discover → enroll → readings verify in the built processor → a hard reset is
 * reported and not replaced → the printed rotate command → the restarted Total is `ok`, not `rollback`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { Plug } from '../../sim/plug';
import { fingerprint } from '../../cli/keys';
import { completion, runCli, spawnCli, type CliResult } from '../harness/cli';
import { randomLoopback, startFakePlugOnPort80, type FakePlug } from '../harness/fake-plug';
import { decode, splitLines, tag } from '../harness/metrics';
import { startMosquitto, type MosquittoServer } from '../harness/mosquitto';
import { freePort } from '../harness/ports';
import { runProcessor, tempDir } from '../harness/processor';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';

const PASSWORD = 'fleet pw';
const SEED = 'discover';
const dir = tempDir();
const file = join(dir, 'pub_keys.json');
const json = () => JSON.parse(readFileSync(file, 'utf8'));

/** The sim plugs behind the fake web servers: they sign the readings. */
const signer = {
  kitchen: new Plug({ name: 'kitchen', energyRes: 3, startMicroKwh: 2_000_000 }, SEED),
  hall: new Plug({ name: 'hall', energyRes: 3, startMicroKwh: 1_500_000 }, SEED),
  attic: new Plug({ name: 'attic', energyRes: 2 }, SEED),
  cellar: new Plug({ name: 'cellar', energyRes: 3 }, SEED),
};
/** The hall plug after a hard reset: a new key pair, its Total restarting near zero. */
const hallAfterReset = new Plug({ name: 'hall', energyRes: 3, startMicroKwh: 90 }, `${SEED}-reset`);

/** The early firmware's SENSOR message: the signature in braces (not JSON), with the extra field. */
const braced = (p: Plug) => {
  const r = p.read(new Date());
  return r.payload
    .replace(`"Signature":"${r.signature}"`, `"Signature": {${r.signature}}`)
    .replace('"ENERGY"', `"Calculating signature on":"${r.message}","ENERGY"`);
};

describe('meterproof keys discover', () => {
  let broker: MosquittoServer;
  let publisher: MqttClient;
  const plugs: Record<string, FakePlug> = {};
  const unreachable = { ip: randomLoopback(), mac: 'A4CF12DEAD01', topic: 'shed' };
  const unreachableTopic = `tasmota/discovery/${unreachable.mac}/config`;

  const announce = (p: FakePlug) => publisher.publishAsync(p.discoveryTopic, JSON.stringify(p.discoveryConfig()), { retain: true, qos: 1 });
  const discover = (args: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    runCli(['keys', 'discover', '--keys', file, '--mqtt', broker.url, '--wait', '1', ...args], {
      env: { TASMOTA_WEB_PASSWORD: PASSWORD, ...env },
    });
  /** The table row of a device, cells split on runs of 2+ spaces. */
  const row = (r: CliResult, device: string) =>
    r.stdout
      .split('\n')
      .find((l) => l.startsWith(`${device} `))
      ?.split(/ {2,}/);

  beforeAll(async () => {
    broker = await startMosquitto();
    publisher = await connectAsync(broker.url);
    plugs.kitchen = await startFakePlugOnPort80({ topic: 'kitchen', publicKeyHex: signer.kitchen.publicKeyHex });
    plugs.hall = await startFakePlugOnPort80({
      topic: 'hall',
      publicKeyHex: signer.hall.publicKeyHex,
      webPassword: PASSWORD,
      refererCheck: true,
    });
    plugs.garage = await startFakePlugOnPort80({ topic: 'garage', version: '12.3.1' }); // stock Tasmota: no Public Key row
    plugs.attic = await startFakePlugOnPort80({ topic: 'attic', publicKeyHex: signer.attic.publicKeyHex, version: '28.3.1.2' });
    plugs.cellar = await startFakePlugOnPort80({ topic: 'cellar', publicKeyHex: signer.cellar.publicKeyHex, version: '28.3.1.2' });
    for (const p of Object.values(plugs)) await announce(p);
    await publisher.publishAsync(
      unreachableTopic,
      JSON.stringify({
        ip: unreachable.ip,
        dn: 'Shed',
        hn: 'shed-0001',
        mac: unreachable.mac,
        md: 'Gosund SP111',
        sw: '28.3.1.6',
        t: 'shed',
      }),
      { retain: true, qos: 1 },
    );
    // The attic's last SENSOR message is retained; the cellar's is only seen while discover listens.
    await publisher.publishAsync('tele/attic/SENSOR', braced(signer.attic), { retain: true, qos: 1 });
    writeFileSync(file, JSON.stringify({ kitchen: signer.kitchen.publicKeyHex }));
  });

  afterAll(async () => {
    await publisher?.endAsync();
    await Promise.all(Object.values(plugs).map((p) => p.stop()));
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists every plug with IP, MAC, firmware and key state, flags early firmware, exit 1 for an unreachable plug', async () => {
    const before = readFileSync(file, 'utf8');
    const proc = await spawnCli(['keys', 'discover', '--keys', file, '--mqtt', broker.url, '--wait', '2'], {
      TASMOTA_WEB_PASSWORD: PASSWORD,
    });
    proc.stdin.end();
    const done = completion(proc);
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      await publisher.publishAsync('tele/cellar/SENSOR', braced(signer.cellar));
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await done;
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^6 plugs announced on mqtt:\/\/127\.0\.0\.1:\d+; keys from .*pub_keys\.json\ndevice\s+ip\s+mac\s+firmware\s+key\s+fingerprint\s+note\n/,
    );
    const k = plugs.kitchen!;
    expect(row(r, 'kitchen')).toEqual(['kitchen', k.address, k.mac, '28.3.1.6', 'registered', fingerprint(signer.kitchen.publicKeyHex)]);
    expect(row(r, 'hall')).toEqual([
      'hall',
      plugs.hall!.address,
      plugs.hall!.mac,
      '28.3.1.6',
      'not registered',
      fingerprint(signer.hall.publicKeyHex),
    ]);
    expect(row(r, 'garage')).toEqual(['garage', plugs.garage!.address, plugs.garage!.mac, '12.3.1', 'unsigned firmware']);
    const early = 'early firmware "Signature": {…}: needs exact mode, data_format = "value"';
    expect(row(r, 'attic')).toEqual([
      'attic',
      plugs.attic!.address,
      plugs.attic!.mac,
      '28.3.1.2',
      'not registered',
      fingerprint(signer.attic.publicKeyHex),
      early,
    ]);
    expect(row(r, 'cellar')?.at(-1)).toBe(early);
    expect(row(r, 'shed')).toEqual(['shed', unreachable.ip, unreachable.mac, '28.3.1.6', 'unreachable', 'no connection']);
    expect(r.stderr).toBe(
      `meterproof keys discover: shed (${unreachable.ip}): cannot read http://${unreachable.ip}/in: connect ECONNREFUSED ${unreachable.ip}:80\n`,
    );
    // The hall plug checks Referer and wants its password: both were right.
    expect(plugs.hall!.requests.at(-1)).toMatchObject({ referer: `http://${plugs.hall!.address}/`, answered: true });
    expect(readFileSync(file, 'utf8')).toBe(before); // listing changes nothing
  });

  it('exit 0 once every plug was read; the hall plug without its password is unreachable', async () => {
    await publisher.publishAsync(unreachableTopic, '', { retain: true, qos: 1 }); // an empty retained config withdraws the plug
    const r = await discover();
    expect(r.stdout).toMatch(/^5 plugs announced/);
    expect(r.stdout).not.toMatch(/^shed /m);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');

    const noPassword = await discover([], { TASMOTA_WEB_PASSWORD: undefined });
    expect(noPassword.code).toBe(1);
    expect(row(noPassword, 'hall')?.slice(4)).toEqual(['unreachable', 'web password needed or refused']);
    expect(noPassword.stderr).toMatch(/^meterproof keys discover: hall \(.*\): http:\/\/.*\/in asks for the plug's web password/);
  });

  it('--enroll registers every plug not registered yet; their readings then verify in the processor', async () => {
    const r = await discover(['--enroll']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/trust on first use/);
    for (const name of ['hall', 'attic', 'cellar'] as const) {
      expect(r.stdout).toContain(`  ${name}: none → ${signer[name].publicKeyHex.slice(0, 12)}…`);
    }
    expect(r.stdout).toMatch(/enrolled 3 plugs\n$/);
    expect(r.stdout).not.toContain('[y/N]');
    const k = json();
    expect(Object.keys(k).sort()).toEqual(['attic', 'cellar', 'hall', 'kitchen']);
    expect(k.kitchen).toBe(signer.kitchen.publicKeyHex); // registered already: untouched
    expect(k.hall).toEqual([
      { key: signer.hall.publicKeyHex, label: `enrolled from ${plugs.hall!.address} (MAC ${plugs.hall!.mac}) on ${today()}` },
    ]);

    const now = Date.now();
    expect(
      await statuses([
        [signer.kitchen, now - 3_600_000],
        [signer.hall, now - 3_600_000],
        [signer.attic, now - 3_600_000],
        [signer.hall, now - 1_800_000],
      ]),
    ).toEqual(['ok', 'ok', 'ok', 'ok']);

    const again = await discover(['--enroll']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to enroll/);
  });

  let rotateLine = '';
  it('after a hard reset: "changed on the plug", exit 1, the key not replaced, the exact rotate command printed', async () => {
    plugs.hall!.setKey(hallAfterReset.publicKeyHex);
    const before = readFileSync(file, 'utf8');
    const r = await discover(['--enroll']);
    expect(r.code).toBe(1);
    expect(row(r, 'hall')?.slice(4)).toEqual(['changed on the plug', fingerprint(hallAfterReset.publicKeyHex)]);
    rotateLine = r.stdout
      .split('\n')
      .find((l) => l.startsWith('  meterproof keys rotate '))!
      .trim();
    expect(rotateLine).toBe(`meterproof keys rotate --keys ${file} --device hall --key ${hallAfterReset.publicKeyHex}`);
    expect(r.stdout).toMatch(/nothing to enroll/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('the printed rotate command makes the restarted Total ok, not rollback; discover then exits 0', async () => {
    const rotated = await runCli(rotateLine.split(' ').slice(1), { env: { TZ: 'UTC' } }); // sim plugs write Time in UTC
    expect(rotated.code).toBe(0);
    const hall = json().hall;
    expect(hall[0].not_after).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(hall[1]).toMatchObject({ key: hallAfterReset.publicKeyHex, not_before: hall[0].not_after });

    const now = Date.now();
    // Old readings, then the reset plug's, whose Total restarted near zero.
    expect(hallAfterReset.totalText()).toMatch(/^0\.00/);
    expect(
      await statuses([
        [signer.hall, now - 3_600_000],
        [signer.hall, now - 1_800_000],
        [hallAfterReset, now + 60_000],
        [hallAfterReset, now + 120_000],
      ]),
    ).toEqual(['ok', 'ok', 'ok', 'ok']);

    const r = await discover();
    expect(row(r, 'hall')?.slice(4, 5)).toEqual(['registered']);
    expect(r.code).toBe(0);
  });

  it('two plugs on one topic: neither is enrolled, exit 1', async () => {
    const twin = await startFakePlugOnPort80({ topic: 'cellar', publicKeyHex: hallAfterReset.publicKeyHex });
    plugs.twin = twin;
    await announce(twin);
    const fresh = join(dir, 'fresh.json');
    writeFileSync(fresh, '{}');
    const r = await runCli(['keys', 'discover', '--keys', fresh, '--mqtt', broker.url, '--wait', '1', '--enroll'], {
      env: { TASMOTA_WEB_PASSWORD: PASSWORD },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^cellar .*topic shared with ${twin.mac}`, 'm'));
    expect(Object.keys(JSON.parse(readFileSync(fresh, 'utf8'))).sort()).toEqual(['attic', 'hall', 'kitchen']);
    await publisher.publishAsync(twin.discoveryTopic, '', { retain: true, qos: 1 });
  });

  it('exit 2 with one prefixed line: unreachable broker, bad usage, unusable key file', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--keys', file, '--mqtt', `mqtt://127.0.0.1:${await freePort()}`],
        /^meterproof keys discover: cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
      ],
      [['--keys', file, '--mqtt', 'http://127.0.0.1:1883'], /--mqtt must be an mqtt:\/\//],
      [['--keys', file], /--mqtt URL is required/],
      [['--mqtt', broker.url], /--keys FILE is required/],
      [['--keys', file, '--mqtt', broker.url, '--wait', '0'], /--wait must be a number of seconds above 0/],
      [['--keys', file, '--mqtt', broker.url, '--wait', 'soon'], /--wait must be/],
      [['--keys', file, '--mqtt', broker.url, '--frobnicate'], /Unknown option '--frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['keys', 'discover', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^meterproof keys discover: [^\n]+\n$/);
      expect(r.stderr).toMatch(message);
    }
  });
});

const today = () => new Date().toISOString().slice(0, 10);

/** The processor's verify_status for readings [plug, signed at (ms)], through the built dist/processor.js and the key file. */
async function statuses(readings: [Plug, number][]): Promise<string[]> {
  const input = readings
    .map(([plug, at], i) => {
      plug.consume(300);
      const r = plug.read(new Date(at));
      return telegrafLine(r.topic, r.payload, BigInt(at + i) * 1_000_000n, { mode: 'json', topicTags: '_/device/_' });
    })
    .join('');
  const out = await runProcessor(['--keys', file], input);
  expect(out.code).toBe(0);
  return splitLines(out.stdout).map((l) => tag(decode(l), 'verify_status')!);
}
