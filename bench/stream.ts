/** The benchmark's input: 10 devices × 20,000 readings, EnergyRes 3, 2 % tampered (issue 6). */
import { SimulatedFleet } from '../sim/fleet';
import { telegrafLine } from '../sim/telegraf-lines';

export interface BenchStream {
  readonly keys: Record<string, string>;
  /** Line protocol as Telegraf writes it to the processor. */
  readonly lines: string[];
  /** The raw MQTT payloads, for the reference validator's loop. */
  readonly payloads: { device: string; payload: string }[];
}

export function benchStream(devices = 10, readingsPerDevice = 20_000, tampered = 0.02): BenchStream {
  const fleet = new SimulatedFleet(
    Array.from({ length: devices }, (_, i) => ({ name: `plug-${i}`, energyRes: 3 })),
    'bench',
  );
  const lines: string[] = [];
  const payloads: { device: string; payload: string }[] = [];
  const t0 = Date.UTC(2025, 0, 1);
  for (let r = 0; r < readingsPerDevice; r++) {
    for (const m of fleet.round(new Date(t0 + r * 1000), { tampered })) {
      lines.push(telegrafLine(m.topic, m.payload, BigInt(t0 + r * 1000) * 1_000_000n, 'json'));
      payloads.push({ device: m.device, payload: m.payload });
    }
  }
  return { keys: fleet.publicKeys(), lines, payloads };
}
