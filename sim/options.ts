/**
 * The simulated fleet as `meterproof simulate` describes it on its command line: how many plugs, their
 * EnergyRes and phases, the clock's zone suffix, which share of messages is faulty, and which share
 * of plugs is missing from the key registry. MQTT-free, so tests rebuild the exact same fleet.
 */
import type { DeviceClock } from './clock';
import { SimulatedFleet, type FaultShares, type FleetMessage } from './fleet';
import type { PlugSpec } from './plug';

export interface FleetOptions {
  /** Every plug, registered or not. */
  readonly devices: number;
  /** EnergyRes per plug, cycled over the fleet. */
  readonly energyRes: readonly number[];
  /** Share of plugs that are three-phase meters publishing Total as an array. */
  readonly threePhaseShare: number;
  /** Zone suffix after Time (`+01:00`, `Z` or empty); not signed by the firmware. */
  readonly zone: string;
  readonly faults: Required<FaultShares>;
  /** Share of plugs whose key is left out of the registry (so their messages are `unknown_device`). */
  readonly unknownShare: number;
  /** Keys derive from it, so the same seed gives the same keys on every run. */
  readonly seed: string;
}

/** The options as text, the way `node:util` parseArgs hands them over. */
export interface FleetOptionText {
  readonly devices?: string;
  readonly 'energy-res'?: string;
  readonly phases?: string;
  readonly zone?: string;
  readonly tampered?: string;
  readonly replayed?: string;
  readonly unsigned?: string;
  readonly foreign?: string;
  readonly rollback?: string;
  readonly unknown?: string;
  readonly seed?: string;
}

export const DEFAULT_SEED = 'meterproof';
const MAX_DEVICES = 100_000;
const ZONE = /^(?:[+-](?:0\d|1[0-4]):[0-5]\d|Z)?$/;

/** Validates the text options; throws RangeError with a message naming the option. */
export function parseFleetOptions(t: FleetOptionText): FleetOptions {
  const devices = integer('--devices', t.devices ?? '6', 1, MAX_DEVICES);
  const energyRes = (t['energy-res'] ?? '3').split(',').map((s) => integer('--energy-res', s.trim(), 0, 5));
  const zone = t.zone ?? '';
  if (!ZONE.test(zone)) throw new RangeError(`--zone must look like +01:00, -05:30 or Z, got "${zone}"`);
  const faults = {
    tampered: share('--tampered', t.tampered),
    replayed: share('--replayed', t.replayed),
    unsigned: share('--unsigned', t.unsigned),
    foreign_signature: share('--foreign', t.foreign),
    rolled_back: share('--rollback', t.rollback),
  };
  const sum = Object.values(faults).reduce((a, b) => a + b, 0);
  if (sum > 1 + 1e-9)
    throw new RangeError(`the fault shares (--tampered, --foreign, --unsigned, --replayed, --rollback) add up to ${sum}, more than 1`);
  const unknownShare = share('--unknown', t.unknown);
  if (unknownShare > 0 && devices < 2) throw new RangeError('--unknown needs at least 2 --devices (one must stay registered)');
  return { devices, energyRes, threePhaseShare: phases(t.phases ?? '1'), zone, faults, unknownShare, seed: t.seed ?? DEFAULT_SEED };
}

/** Registered plugs first, then the unregistered tail; names are stable for a given device count. */
export function fleetSpecs(o: FleetOptions): { registered: PlugSpec[]; unregistered: PlugSpec[] } {
  // At least one plug is unknown when a share was asked for, and at least one stays registered.
  const unknown = o.unknownShare > 0 ? Math.min(o.devices - 1, Math.max(1, Math.round(o.devices * o.unknownShare))) : 0;
  const width = String(o.devices).length;
  const specs = Array.from({ length: o.devices }, (_, i): PlugSpec => {
    const threePhase = Math.floor((i + 1) * o.threePhaseShare) > Math.floor(i * o.threePhaseShare);
    return {
      name: `plug-${String(i + 1).padStart(Math.max(2, width), '0')}`,
      energyRes: o.energyRes[i % o.energyRes.length]!,
      phases: threePhase ? 3 : 1,
      zone: o.zone,
    };
  });
  return { registered: specs.slice(0, o.devices - unknown), unregistered: specs.slice(o.devices - unknown) };
}

export function buildSimulatedFleet(o: FleetOptions): SimulatedFleet {
  const { registered, unregistered } = fleetSpecs(o);
  return new SimulatedFleet(registered, o.seed, unregistered);
}

/** Every plug's message, round after round on the plugs' clock: what `meterproof simulate` publishes. */
export function* fleetRounds(fleet: SimulatedFleet, faults: FaultShares, clock: DeviceClock): Generator<FleetMessage[], never> {
  for (let round = 0; ; round++) yield fleet.round(clock.at(round), faults);
}

function integer(name: string, s: string, min: number, max: number): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < min || n > max) throw new RangeError(`${name} must be a whole number from ${min} to ${max}, got "${s}"`);
  return n;
}

function share(name: string, s: string | undefined): number {
  if (s === undefined) return 0;
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new RangeError(`${name} must be a share from 0 to 1, got "${s}"`);
  return n;
}

/** `1` (all single-phase), `3` (all three-phase), or a share of three-phase plugs such as `0.25`. */
function phases(s: string): number {
  if (s === '1') return 0;
  if (s === '3') return 1;
  const n = Number(s);
  if (!/^0?\.\d+$/.test(s) || n > 1) throw new RangeError(`--phases must be 1, 3 or a share of three-phase plugs like 0.25, got "${s}"`);
  return n;
}
