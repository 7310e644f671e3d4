/**
 * A BC4P Tasmota plug, emulated the way the firmware behaves (docs/design.md §1): it keeps an energy counter,
 * prints Total with EnergyRes decimals (trailing zeros kept, `[a,b,c]` with SetOption129 on three
 * phases), signs the 19 characters of Time, a comma and that Total text with Ed25519, and builds the
 * `tele/<topic>/SENSOR` JSON. Deliberately shares no code with the verifier's message rebuilding.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';

export interface PlugSpec {
  /** Tasmota topic, also the device name in the key registry. */
  readonly name: string;
  /** Decimals of Total (Tasmota `EnergyRes`, 0–5). */
  readonly energyRes?: number;
  /** 1, or 3 for a three-phase meter publishing Total as an array (SetOption129 1). */
  readonly phases?: 1 | 3;
  /** Zone suffix appended to Time (e.g. `+01:00`), which the firmware does not sign. */
  readonly zone?: string;
  /** Starting Total per phase, in units of 1e-5 kWh. */
  readonly startMicroKwh?: number;
}

export interface PlugReading {
  readonly topic: string;
  /** The MQTT payload exactly as the plug publishes it. */
  readonly payload: string;
  readonly time: string;
  readonly totalText: string;
  /** The bytes the plug signed. */
  readonly message: string;
  readonly signature: string;
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const UNIT_DECIMALS = 5;

/** Deterministic Ed25519 key for a device, so fleets keep their keys across runs with the same seed. */
export function deviceKey(seed: string, name: string): { privateKey: KeyObject; publicKeyHex: string } {
  const secret = createHash('sha256').update(`meterproof-sim:${seed}:${name}`).digest();
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, publicKeyHex: spki.subarray(spki.length - 32).toString('hex') };
}

/** C `dtostrf(value, res)` on a fixed-point counter: round half up, keep trailing zeros. */
export function printFixed(units: number, res: number): string {
  const drop = 10 ** (UNIT_DECIMALS - res);
  const scaled = Math.floor((units + drop / 2) / drop);
  const s = String(scaled).padStart(res + 1, '0');
  return res === 0 ? s : `${s.slice(0, -res)}.${s.slice(-res)}`;
}

/** Tasmota's `Time`: device-local `YYYY-MM-DDTHH:MM:SS`, read off a Date's UTC fields. */
export function tasmotaTime(at: Date): string {
  return at.toISOString().slice(0, 19);
}

export class Plug {
  readonly name: string;
  readonly energyRes: number;
  readonly phases: 1 | 3;
  readonly zone: string;
  readonly publicKeyHex: string;
  private readonly privateKey: KeyObject;
  private readonly units: number[];

  constructor(spec: PlugSpec, seed: string) {
    this.name = spec.name;
    this.energyRes = spec.energyRes ?? 3;
    this.phases = spec.phases ?? 1;
    this.zone = spec.zone ?? '';
    if (!Number.isInteger(this.energyRes) || this.energyRes < 0 || this.energyRes > 5) {
      throw new RangeError(`EnergyRes must be 0–5, got ${spec.energyRes}`);
    }
    const start = spec.startMicroKwh ?? 150_000;
    this.units = Array.from({ length: this.phases }, (_, i) => start + i * 12_345);
    ({ privateKey: this.privateKey, publicKeyHex: this.publicKeyHex } = deviceKey(seed, spec.name));
  }

  /** The energy counter of the first phase (units of 1e-5 kWh). */
  get counter(): number {
    return this.units[0]!;
  }

  /** One printed step of Total, in counter units. */
  get step(): number {
    return 10 ** (UNIT_DECIMALS - this.energyRes);
  }

  /** Adds energy to every phase (units of 1e-5 kWh). */
  consume(units: number): void {
    for (let i = 0; i < this.units.length; i++) this.units[i]! += units + i;
  }

  totalText(offset = 0): string {
    const parts = this.units.map((u) => printFixed(Math.max(0, u + offset), this.energyRes));
    return this.phases === 1 ? parts[0]! : `[${parts.join(',')}]`;
  }

  /**
   * Publishes one reading at `at`, signed like the firmware. A negative `offset` makes the plug
   * report less than its counter: a genuinely signed rollback (a restored backup, a cloned plug).
   */
  read(at: Date, offset = 0): PlugReading {
    const time = tasmotaTime(at) + this.zone;
    const totalText = this.totalText(offset);
    const message = `${time.slice(0, 19)},${totalText}`;
    const signature = sign(null, Buffer.from(message), this.privateKey).toString('hex');
    const power = this.phases === 1 ? '42' : '[14,15,13]';
    const payload =
      `{"Time":"${time}","Signature":"${signature}","ENERGY":{"TotalStartTime":"2023-01-01T00:00:00",` +
      `"Total":${totalText},"Yesterday":${printFixed(1234, this.energyRes)},"Today":${printFixed(567, this.energyRes)},` +
      `"Power":${power},"ApparentPower":50,"ReactivePower":27,"Factor":0.84,"Voltage":231,"Current":0.217}}`;
    return { topic: `tele/${this.name}/SENSOR`, payload, time, totalText, message, signature };
  }
}
