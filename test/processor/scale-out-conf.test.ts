/** telegraf.scale-out.conf wires N agents as docs/scale-out.md says; the --state URL forms parse. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createClient, isRedisUrl, redactUrl } from '../../processor/redis-state';

type Table = Record<string, unknown>;
const text = readFileSync(join(__dirname, '..', '..', 'telegraf.scale-out.conf'), 'utf8');
const conf = parse(text) as Table;
const first = (path: string[]): Table => {
  let node: unknown = conf;
  for (const p of path) node = (node as Table)[p];
  return (Array.isArray(node) ? node[0] : node) as Table;
};

describe('telegraf.scale-out.conf', () => {
  it('takes a shared subscription with a client_id per agent and a clean session, and keeps the plain topic parsing', () => {
    const mqtt = first(['inputs', 'mqtt_consumer']);
    expect(mqtt.topics).toEqual(['$share/meterproof/tele/+/SENSOR']);
    expect(mqtt.client_id).toContain('${AGENT_ID}');
    // Clean sessions: Mosquitto queues a dead persistent member's share for it (test/services/scale-out.share.test.ts).
    expect(mqtt).toMatchObject({ qos: 1, persistent_session: false });
    expect((mqtt.topic_parsing as Table[])[0]).toMatchObject({ topic: 'tele/+/SENSOR', tags: '_/device/_' });
  });

  it('runs the processor with a Redis --state that parses, and is otherwise telegraf.conf', () => {
    const cmd = first(['processors', 'execd']).command as string[];
    const url = cmd[cmd.indexOf('--state') + 1]!;
    expect(isRedisUrl(url)).toBe(true);
    createClient(url).disconnect();
    const plain = parse(readFileSync(join(__dirname, '..', '..', 'telegraf.conf'), 'utf8')) as Table;
    expect(conf.agent).toEqual(plain.agent);
    expect(conf.outputs).toEqual(plain.outputs);
  });
});

describe('--state URL forms', () => {
  it('reads one server, Sentinel and Cluster URLs, and hides passwords in logs', () => {
    const one = createClient('redis://u:p%40ss@127.0.0.1:6390/3');
    expect(one.options).toMatchObject({ host: '127.0.0.1', port: 6390, db: 3, username: 'u', password: 'p@ss' });
    one.disconnect();
    const s = createClient('redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster');
    expect((s as unknown as { options: Table }).options).toMatchObject({
      name: 'mymaster',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
      ],
    });
    s.disconnect();
    const c = createClient('redis+cluster://127.0.0.1:7000,127.0.0.1:7001');
    expect(c).toBeInstanceOf(Cluster);
    c.disconnect();
    expect(redactUrl('redis://u:secret@h:1')).toBe('redis://u:***@h:1');
    expect(isRedisUrl('/var/lib/meterproof/state.json')).toBe(false);
  });

  it('takes the password from $METERPROOF_REDIS_PASSWORD when the URL has none', () => {
    process.env.METERPROOF_REDIS_PASSWORD = 'from-env';
    try {
      const c = createClient('redis://127.0.0.1:6390');
      expect((c.options as { password?: string }).password).toBe('from-env');
      c.disconnect();
    } finally {
      delete process.env.METERPROOF_REDIS_PASSWORD;
    }
  });
});
