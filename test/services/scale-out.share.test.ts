/**
 * telegraf.scale-out.conf end to end, short of Telegraf itself: two agents take the shared subscription
 * `$share/meterproof/tele/+/SENSOR` on a real Mosquitto, each feeds its own processor, and the processors
 * share one real Redis. Telegraf cannot run here; its mqtt_consumer (influxdata/telegraf,
 * plugins/inputs/mqtt_consumer) is followed from its source:
 * - it subscribes with github.com/eclipse/paho.mqtt.golang, which speaks MQTT 3.1.1 (it never sets a
 *   ProtocolVersion, and paho then starts at 3.1.1), hence `protocolVersion: 4` here; Mosquitto >= 1.6
 *   serves `$share/` to 3.1.1 clients;
 * - paho routes a message to the `$share/<group>/<filter>` subscription by matching the filter without
 *   its first two levels (router.go, routeSplit), and topic_parsing matches its `topic` against the
 *   message's own topic (`msg.Topic()`, `tele/<device>/SENSOR`), never against the subscription string:
 *   so `topic = "tele/+/SENSOR"` is right and `telegrafLine` gets the message's topic;
 * - `persistent_session = false` is a clean session, `clean: true` here (see the last test for why).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect, connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { parse } from 'smol-toml';
import { startMosquitto, type MosquittoServer } from '../harness/mosquitto';
import { startRedis, type RedisServer } from '../harness/redis';
import { tempDir, writeKeys } from '../harness/processor';
import { fleet, processors, rounds, sleep, type SharedProcessors } from '../harness/shared-state';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The subscription exactly as telegraf.scale-out.conf has it. */
const conf = parse(readFileSync(join(__dirname, '..', '..', 'telegraf.scale-out.conf'), 'utf8')) as {
  inputs: { mqtt_consumer: { topics: string[]; qos: number; persistent_session: boolean }[] };
};
const consumer = conf.inputs.mqtt_consumer[0]!;
const TOPIC = consumer.topics[0]!;

interface Delivery {
  readonly agent: number;
  readonly topic: string;
  readonly payload: string;
  readonly verdict: Promise<string>;
}

/** An agent's MQTT side as Telegraf's paho client sets it up: MQTT 3.1.1, its own client id. */
function agentOptions(i: number, clean = !consumer.persistent_session): IClientOptions {
  return { clientId: `telegraf-meterproof-agent-${i + 1}`, protocolVersion: 4, clean, reconnectPeriod: 0 };
}

describe('two agents on one shared subscription, one Redis', () => {
  let broker: MosquittoServer;
  let redis: RedisServer;
  beforeAll(async () => {
    [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([broker?.stop(), redis?.stop()]);
  });

  /** Two agents: each message an agent receives goes through its own processor; verdicts in arrival order. */
  async function agents(p: SharedProcessors) {
    const deliveries: Delivery[] = [];
    const clients: MqttClient[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await connectAsync(broker.url, agentOptions(i));
      c.on('message', (topic, payload) => {
        const m = { topic, payload: payload.toString() };
        deliveries.push({ agent: i, ...m, verdict: p.send(m, i) });
      });
      await c.subscribeAsync(TOPIC, { qos: consumer.qos as 0 | 1 });
      clients.push(c);
    }
    return { deliveries, clients };
  }

  it('delivers each reading to exactly one agent, and the verdicts are one processor’s over the publish order', async () => {
    const f = fleet('share', 3);
    const keys = writeKeys(dir, f.publicKeys(), 'share-keys.json');
    const msgs = rounds(f, 0, 40);
    const p = processors(2, keys, redis.url);
    const { deliveries, clients } = await agents(p);
    // Tasmota publishes with QoS 0 over MQTT 3.1.1.
    const plug = await connectAsync(broker.url, { protocolVersion: 4 });
    // One at a time, each judged before the next is published: the order one processor would see.
    const published: { topic: string; payload: string }[] = [];
    const publish = async (m: { topic: string; payload: string }) => {
      published.push({ topic: m.topic, payload: m.payload });
      await plug.publishAsync(m.topic, m.payload, { qos: 0 });
      const deadline = Date.now() + 5000;
      while (deliveries.length < published.length && Date.now() < deadline) await sleep(2);
      const d = deliveries[published.length - 1];
      if (!d) throw new Error(`${m.topic} was delivered to no agent`);
      return d;
    };
    for (const m of msgs) await (await publish(m)).verdict;
    // A fresh reading, then the same bytes again: the broker hands the copy to the other agent.
    const [fresh] = rounds(f, 40, 41, false);
    const first = await publish(fresh!);
    const copy = await publish(fresh!);
    await sleep(300); // a second delivery of anything would arrive by now
    await Promise.all([...clients, plug].map((c) => c.endAsync()));

    expect(deliveries.map(({ topic, payload }) => ({ topic, payload }))).toEqual(published);
    const got = await Promise.all(deliveries.map((d) => d.verdict));
    expect(await p.close()).toEqual([0, 0]);
    const share = [0, 1].map((a) => deliveries.filter((d) => d.agent === a).length);
    expect(Math.min(...share)).toBeGreaterThan(published.length / 4);

    expect([first.agent, await first.verdict]).toEqual([1 - copy.agent, 'ok']);
    expect(await copy.verdict).toBe('replay');
    // One processor over the merged stream in publish order, fed as the agents were: one at a time.
    const solo = processors(1, keys, join(dir, 'solo-state.json'));
    const alone: string[] = [];
    for (const m of published) alone.push(await solo.send(m));
    expect(await solo.close()).toEqual([0]);
    expect(got).toEqual(alone);
    expect(got.slice(0, msgs.length)).toEqual(msgs.map((m) => m.expected));
    // Replays in the stream itself that reached the other agent than their original.
    const crossed = msgs.filter(
      (m, i) => m.expected === 'replay' && deliveries.some((d, j) => j < i && d.payload === m.payload && d.agent !== deliveries[i]!.agent),
    );
    expect(crossed.length).toBeGreaterThan(2);
    for (const e of p.stderr) expect(e).not.toMatch(/^W! state:/m);
  }, 120_000);

  it('gives a dead agent’s share to the other with clean sessions, as the conf has it; a persistent session keeps it back', async () => {
    /** Agent 2's connection drops; six readings follow; then agent 2 comes back. Who got which? */
    const afterDeath = async (clean: boolean) => {
      const got: string[][] = [[], []];
      const options = (i: number) => ({ ...agentOptions(i, clean), clientId: `${agentOptions(i).clientId}-${clean}` });
      const member = async (i: number) => {
        // The handler first: a returning session's queued readings follow the CONNACK at once.
        const c = connect(broker.url, options(i));
        c.on('message', (_t, payload) => got[i]!.push(payload.toString()));
        await new Promise((r) => c.once('connect', r));
        await c.subscribeAsync(TOPIC, { qos: 1 });
        return c;
      };
      const [one, two] = [await member(0), await member(1)];
      const plug = await connectAsync(broker.url, { protocolVersion: 4 });
      two.stream.destroy(); // no DISCONNECT packet: a crash
      await sleep(300);
      for (let i = 0; i < 6; i++) await plug.publishAsync(`tele/p${i}/SENSOR`, `r${i}`, { qos: 1 });
      await sleep(300);
      const whileDead = got.map((g) => [...g]);
      const back = await member(1);
      await sleep(500);
      await Promise.all([one, back, plug].map((c) => c.endAsync()));
      return { whileDead, later: got[1]!.slice(whileDead[1]!.length) };
    };
    const all = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
    expect(consumer.persistent_session).toBe(false);
    expect(await afterDeath(true)).toEqual({ whileDead: [all, []], later: [] });
    // Mosquitto 2 goes on handing a disconnected persistent session its turn, queued until it returns:
    // the other agent never sees those readings, and they arrive late, after newer ones of their devices.
    const persistent = await afterDeath(false);
    expect(persistent.whileDead[0]!.length).toBeLessThan(6);
    expect([...persistent.whileDead[0]!, ...persistent.later].sort()).toEqual(all);
  }, 60_000);
});
