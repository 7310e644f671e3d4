/** `meterproof simulate`: publishes a firmware-faithful plug fleet to a real MQTT broker. */
import { writeFile } from 'node:fs/promises';
import { connectAsync, type MqttClient } from 'mqtt';
import { deviceClock, parseStart, zonedNow } from '../sim/clock';
import type { Fault } from '../sim/fleet';
import { buildSimulatedFleet, DEFAULT_SEED, fleetRounds, parseFleetOptions } from '../sim/options';
import { EXIT_USAGE, parseCommandArgs, UsageError, type Command } from './command';
import { statusLine } from './status-line';

const HELP = `Usage: meterproof simulate [options]

Publishes tele/<device>/SENSOR messages exactly as BC4P Tasmota plugs sign them, plus the faults
meterproof must catch, to an MQTT broker. Runs until Ctrl-C unless --count is given.

Broker
  --broker URL         mqtt://, mqtts://, ws:// or wss:// (default mqtt://127.0.0.1:1883)
  --username NAME      also from $MQTT_USERNAME
  --password SECRET    also from $MQTT_PASSWORD (prefer the variable: arguments show in ps)
  --qos 0|1|2          MQTT QoS of each publish (default 1)

Fleet
  --devices N          plugs in the fleet, registered or not (default 6)
  --energy-res R[,R…]  Tasmota EnergyRes 0–5, cycled over the plugs (default 3)
  --phases 1|3|SHARE   single-phase, three-phase (Total as an array), or a share of three-phase plugs (0.25)
  --zone SUFFIX        zone suffix after Time, e.g. +01:00 (not signed by the firmware; default none)
  --seed TEXT          keys derive from it: same seed, same keys on every run (default "${DEFAULT_SEED}")
  --keys-out FILE      write pub_keys.json for the registered plugs (the processor's --keys)

Faults (shares of messages, 0–1)
  --tampered SHARE     Total changed after signing (expect bad_signature)
  --foreign SHARE      another plug's signature (expect bad_signature)
  --unsigned SHARE     Signature removed (expect unsigned)
  --replayed SHARE     an earlier genuine message sent again (expect replay)
  --rollback SHARE     signed by the plug with a newer Time but a lower Total (expect rollback)
  --unknown SHARE      share of plugs left out of --keys-out (expect unknown_device)

Timing
  --interval MS        time between rounds; every plug publishes once per round (default 10000)
  --count ROUNDS       rounds to publish, 0 = until Ctrl-C (default 0)
  --start TIME         plug clock at the first round, YYYY-MM-DDTHH:MM:SS (default now). Time advances by
                       the interval rounded up to whole seconds, at least 1 s, so genuine readings never
                       look like replays.

Shows a live count on a terminal; quiet when piped. Ctrl-C finishes the publishes in flight,
disconnects and exits 0.
`;

export const simulate: Command = {
  summary: 'publish a simulated, firmware-faithful plug fleet to an MQTT broker',
  async run(args) {
    const options = parseOptions(args);
    if (options === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    return publish(options);
  },
};

interface SimulateRun {
  readonly broker: string;
  readonly username?: string;
  readonly password?: string;
  readonly qos: 0 | 1 | 2;
  readonly intervalMs: number;
  readonly count: number;
  readonly start?: Date;
  readonly keysOut?: string;
  readonly fleet: ReturnType<typeof parseFleetOptions>;
}

function parseOptions(args: string[]): SimulateRun | 'help' {
  const text = { type: 'string' } as const;
  const { values } = parseCommandArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      broker: text,
      username: text,
      password: text,
      qos: text,
      devices: text,
      'energy-res': text,
      phases: text,
      zone: text,
      seed: text,
      'keys-out': text,
      tampered: text,
      foreign: text,
      unsigned: text,
      replayed: text,
      rollback: text,
      unknown: text,
      interval: text,
      count: text,
      start: text,
    },
  });
  if (values.help) return 'help';
  try {
    const broker = values.broker ?? 'mqtt://127.0.0.1:1883';
    if (!/^(mqtts?|wss?):\/\/[^/]/.test(broker))
      throw new RangeError(`--broker must be an mqtt://, mqtts://, ws:// or wss:// URL, got "${broker}"`);
    const qos = Number(values.qos ?? '1');
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`--qos must be 0, 1 or 2, got "${values.qos}"`);
    const username = values.username ?? process.env.MQTT_USERNAME;
    const password = values.password ?? process.env.MQTT_PASSWORD;
    return {
      broker,
      ...(username !== undefined && { username }),
      ...(password !== undefined && { password }),
      qos,
      intervalMs: wholeNumber('--interval', values.interval ?? '10000'),
      count: wholeNumber('--count', values.count ?? '0'),
      ...(values.start !== undefined && { start: parseStart(values.start) }),
      ...(values['keys-out'] !== undefined && { keysOut: values['keys-out'] }),
      fleet: parseFleetOptions(values),
    };
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
}

function wholeNumber(name: string, s: string): number {
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new RangeError(`${name} must be a whole number, got "${s}"`);
  return Number(s);
}

const FAULT_LABELS: Record<Fault, string> = {
  none: 'genuine',
  tampered: 'tampered',
  foreign_signature: 'foreign-signed',
  unsigned: 'unsigned',
  replayed: 'replayed',
  rolled_back: 'rolled-back',
  unknown_key: 'unknown-key',
};

async function publish(run: SimulateRun): Promise<number> {
  const fleet = buildSimulatedFleet(run.fleet);
  const status = statusLine(process.stderr);
  if (run.keysOut) {
    await writeFile(run.keysOut, `${JSON.stringify(fleet.publicKeys(), null, 2)}\n`);
    if (process.stderr.isTTY) process.stderr.write(`wrote ${run.keysOut} (${fleet.plugs.length} registered plugs)\n`);
  }

  let client: MqttClient;
  try {
    client = await connectAsync(
      run.broker,
      {
        clientId: `meterproof-sim-${process.pid}`,
        connectTimeout: 10_000,
        reconnectPeriod: 1_000,
        ...(run.username !== undefined && { username: run.username }),
        ...(run.password !== undefined && { password: run.password }),
      },
      false, // a first connection that fails is a setup error, not something to retry forever
    );
  } catch (e) {
    process.stderr.write(`meterproof simulate: cannot connect to ${run.broker}: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }

  // Once connected, mqtt.js reconnects by itself and QoS 1/2 publishes wait for it; say why.
  client.on('error', (e) => process.stderr.write(`meterproof simulate: ${run.broker}: ${e.message}\n`));

  // First Ctrl-C: stop after the round in flight. Second: give up on unacknowledged publishes.
  const stop = new AbortController();
  let forced = false;
  const onSignal = () => {
    if (stop.signal.aborted) {
      forced = true;
      client.end(true);
    }
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const sent = new Map<Fault, number>();
  let total = 0;
  const describe = () => {
    const parts = [...sent].map(([fault, n]) => `${n} ${FAULT_LABELS[fault]}`);
    return `sent ${total} message${total === 1 ? '' : 's'} to ${run.broker}${parts.length ? ` (${parts.join(', ')})` : ''}`;
  };
  const rounds = fleetRounds(fleet, run.fleet.faults, deviceClock(run.start ?? zonedNow(run.fleet.zone), run.intervalMs));
  try {
    for (let round = 0; (run.count === 0 || round < run.count) && !stop.signal.aborted; round++) {
      const began = Date.now();
      const messages = rounds.next().value;
      await Promise.all(messages.map((m) => client.publishAsync(m.topic, m.payload, { qos: run.qos })));
      for (const m of messages) sent.set(m.fault, (sent.get(m.fault) ?? 0) + 1);
      total += messages.length;
      status.update(describe());
      const last = run.count !== 0 && round === run.count - 1;
      if (!last) await sleep(began + run.intervalMs - Date.now(), stop.signal);
    }
  } catch (e) {
    if (!forced) throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  status.update(describe(), true);
  status.done();
  if (forced) return 130;
  await client.endAsync();
  return 0;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
