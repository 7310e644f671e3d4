/**
 * A fleet of emulated plugs and the faults an attacker or a broken plug produces. Each message
 * carries the verdict the processor must reach, decided here from how the message was made.
 */
import type { VerifyStatus } from '../core/status';
import { Plug, type PlugSpec, type PlugReading } from './plug';

export type Fault = 'none' | 'tampered' | 'foreign_signature' | 'unsigned' | 'unknown_key' | 'replayed' | 'rolled_back';

export interface FleetMessage {
  readonly device: string;
  readonly topic: string;
  readonly payload: string;
  readonly fault: Fault;
  /** What meterproof must answer for this message. */
  readonly expected: VerifyStatus;
}

export interface FaultShares {
  readonly tampered?: number;
  readonly replayed?: number;
  readonly unsigned?: number;
  readonly foreign_signature?: number;
  readonly rolled_back?: number;
}

/** The built-in fleet of `npm start`: EnergyRes variants, a three-phase meter, a zone-suffixed clock. */
export const DEMO_FLEET: readonly PlugSpec[] = [
  { name: 'kitchen-fridge', energyRes: 3 },
  { name: 'office-desk', energyRes: 2 },
  { name: 'garage-charger', energyRes: 0, startMicroKwh: 120_000_000 },
  { name: 'lab-bench', energyRes: 5 },
  { name: 'workshop-3phase', energyRes: 3, phases: 3 },
  { name: 'attic-heater', energyRes: 1, zone: '+01:00' },
];

export class SimulatedFleet {
  readonly plugs: readonly Plug[];
  /** Plugs whose key is not in the registry (a new device nobody registered). */
  readonly unregistered: readonly Plug[];
  private readonly history = new Map<string, PlugReading[]>();
  /** First-phase counter of each plug's last honest (so accepted) reading. */
  private readonly lastHonest = new Map<string, number>();
  private rng: () => number;

  constructor(specs: readonly PlugSpec[], seed: string, unregistered: readonly PlugSpec[] = []) {
    this.plugs = specs.map((s) => new Plug(s, seed));
    this.unregistered = unregistered.map((s) => new Plug(s, `${seed}:unregistered`));
    this.rng = mulberry32(hashSeed(seed));
  }

  /** The reference validator's `pub_keys.json` for the registered plugs. */
  publicKeys(): Record<string, string> {
    return Object.fromEntries(this.plugs.map((p) => [p.name, p.publicKeyHex]));
  }

  /**
   * One reading from every plug at `at`, with faults drawn at the given shares. Registered plugs
   * never move backwards in time, so an honest reading is always `ok`.
   */
  round(at: Date, shares: FaultShares = {}, forced: Readonly<Record<string, Fault>> = {}): FleetMessage[] {
    const out: FleetMessage[] = [];
    for (const plug of this.plugs) {
      plug.consume(1 + Math.floor(this.rng() * 900));
      const fault = forced[plug.name];
      out.push(this.faulty(plug, plug.read(at), fault ? { [fault]: 1 } : shares));
    }
    for (const plug of this.unregistered) {
      plug.consume(500);
      const r = plug.read(at);
      out.push({ device: plug.name, topic: r.topic, payload: r.payload, fault: 'unknown_key', expected: 'unknown_device' });
    }
    return out;
  }

  private faulty(plug: Plug, r: PlugReading, shares: FaultShares): FleetMessage {
    const msg = (payload: string, fault: Fault, expected: VerifyStatus): FleetMessage => ({
      device: plug.name,
      topic: r.topic,
      payload,
      fault,
      expected,
    });
    const past = this.history.get(plug.name) ?? [];
    let x = this.rng();
    const pick = (share = 0) => (x -= share) < 0;
    if (pick(shares.tampered)) return msg(tamper(r), 'tampered', 'bad_signature');
    if (pick(shares.unsigned)) return msg(r.payload.replace(/"Signature":"[0-9a-f]+",/, ''), 'unsigned', 'unsigned');
    if (pick(shares.foreign_signature) && this.plugs.length > 1) {
      const other = this.plugs.find((p) => p !== plug)!;
      return msg(r.payload.replace(r.signature, other.read(new Date(0)).signature), 'foreign_signature', 'bad_signature');
    }
    if (pick(shares.replayed) && past.length > 0) {
      const old = past[Math.floor(this.rng() * past.length)]!;
      return { ...msg(old.payload, 'replayed', 'replay') };
    }
    const last = this.lastHonest.get(plug.name);
    if (pick(shares.rolled_back) && last !== undefined) {
      // Signed by the plug itself with a newer Time, but one printed step below the last accepted Total.
      const rolled = plug.read(new Date(Date.parse(`${r.time.slice(0, 19)}Z`)), last - plug.counter - plug.step);
      return msg(rolled.payload, 'rolled_back', 'rollback');
    }
    this.lastHonest.set(plug.name, plug.counter);
    past.push(r);
    if (past.length > 16) past.shift();
    this.history.set(plug.name, past);
    return msg(r.payload, 'none', 'ok');
  }
}

/** Changes the last digit of the first Total value, keeping the signature: what a meddler would do. */
export function tamper(r: PlugReading): string {
  const last = r.totalText.search(/\d(?=\D*(?:,|]|$))/);
  const bumped = r.totalText.slice(0, last) + String((Number(r.totalText[last]) + 1) % 10) + r.totalText.slice(last + 1);
  return r.payload.replace(`"Total":${r.totalText}`, `"Total":${bumped}`);
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hashSeed(seed: string): number {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
  return h >>> 0;
}
