/**
 * The flood the processor must survive at bounded cost: every reading tampered, each with a Total that
 * has the most exact renderings (an integer: 7 decimal counts), against the same readings untouched.
 * Genuine readings cost one verification each; without a per-device budget a tampered one would cost 7.
 */
import { Plug } from '../sim/plug';
import { telegrafLine } from '../sim/telegraf-lines';

export interface AttackStreams {
  readonly keys: Record<string, string>;
  /** Line protocol, json mode, as Telegraf writes it. */
  readonly genuine: string;
  readonly tampered: string;
  readonly metrics: number;
}

export function attackStreams(devices = 10, readingsPerDevice = 10_000): AttackStreams {
  // A plug that uses no energy keeps printing 12.000, which json v1 delivers as the float 12.
  const plugs = Array.from(
    { length: devices },
    (_, i) => new Plug({ name: `flooded-${i}`, energyRes: 3, startMicroKwh: 12_000_000 }, 'bench-attack'),
  );
  const genuine: string[] = [];
  const tampered: string[] = [];
  const t0 = Date.UTC(2025, 0, 1);
  for (let r = 0; r < readingsPerDevice; r++) {
    for (const p of plugs) {
      const reading = p.read(new Date(t0 + r * 1000));
      const at = BigInt(t0 + r * 1000) * 1_000_000n;
      genuine.push(telegrafLine(reading.topic, reading.payload, at, 'json'));
      // One flipped hex digit: still 128 hex digits, so every rendering of the Total is tried.
      const s = reading.signature;
      const forged = reading.payload.replace(s, `${s[0] === '0' ? '1' : '0'}${s.slice(1)}`);
      tampered.push(telegrafLine(reading.topic, forged, at, 'json'));
    }
  }
  return {
    keys: Object.fromEntries(plugs.map((p, i) => [`flooded-${i}`, p.publicKeyHex])),
    genuine: genuine.join(''),
    tampered: tampered.join(''),
    metrics: genuine.length,
  };
}
