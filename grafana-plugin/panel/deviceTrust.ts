/**
 * Data frames to one trust record per device. Two sources are understood:
 * - the meterproof data source's "Trust status" frame (one row per device, see shared/trustFrame);
 * - any other frames that carry `device` and `verified`, as tags (labels of time series from the
 *   stock InfluxDB data source, `GROUP BY "device", "verified"`) or as columns (table format).
 *   Each row or point counts as one observation; `verify_status`, `signed_message` and `Signature`
 *   are used when present.
 */
import { FieldType, type DataFrame, type Field } from '@grafana/data';
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { SIGNED_MESSAGE_FIELD, STATUS_TAG, VERIFIED_TAG, VERIFY_STATUSES, isVerifyStatus, type VerifyStatus } from '../../core/status';
import { TRUST_FIELDS, TRUST_FRAME_KIND, countField } from '../shared/trustFrame';

const { deviceTag: DEVICE_TAG, signature: SIGNATURE_FIELD } = DEFAULT_FIELD_NAMES;

/** `not_verified`: the source says verified=false without a reason (no verify_status). */
export type TrustStatus = VerifyStatus | 'not_verified';

/** What the panel shows as a device's signed total: the last verified reading as stored, with what was signed. */
interface SignedTotal {
  /** Stored totals, one per phase. */
  values: number[];
  message?: string;
  signature?: string;
}

export interface DeviceTrust {
  device: string;
  status?: TrustStatus;
  lastSeen?: number;
  /** Time of the last verified reading. */
  signedAt?: number;
  signed?: SignedTotal;
  readings: number;
  verifiedReadings: number;
  /** Readings per reason, where the source says. */
  counts: Partial<Record<VerifyStatus, number>>;
}

/** Every device the panel's frames mention, one trust record each. */
export interface TrustOverview {
  devices: DeviceTrust[];
  /** Frames that carried neither a trust table nor device/verified tags. */
  ignoredFrames: number;
}

const isTrustFrame = (f: DataFrame): boolean => (f.meta?.custom as { meterproof?: string } | undefined)?.meterproof === TRUST_FRAME_KIND;
const byName = (f: DataFrame, name: string): Field | undefined => f.fields.find((x) => x.name === name);
const at = <T>(field: Field | undefined, i: number): T | undefined => (field?.values[i] ?? undefined) as T | undefined;
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function fromTrustFrame(f: DataFrame): DeviceTrust[] {
  const F = TRUST_FIELDS;
  const col = (name: string) => byName(f, name);
  const counts = VERIFY_STATUSES.map((s) => [s, col(countField(s))] as const);
  const out: DeviceTrust[] = [];
  for (let i = 0; i < f.length; i++) {
    const device = at<string>(col(F.device), i);
    if (!device) continue;
    const status = at<string>(col(F.status), i);
    const values = at<number[]>(col(F.signedValues), i);
    const c: Partial<Record<VerifyStatus, number>> = {};
    for (const [s, field] of counts) {
      const n = at<number>(field, i);
      if (finite(n) && n > 0) c[s] = n;
    }
    out.push({
      device,
      status: status && isVerifyStatus(status) ? status : undefined,
      lastSeen: at<number>(col(F.lastSeen), i),
      signedAt: at<number>(col(F.signedAt), i),
      signed:
        Array.isArray(values) && values.length
          ? { values, message: at<string>(col(F.signedMessage), i), signature: at<string>(col(F.signature), i) }
          : undefined,
      readings: at<number>(col(F.readings), i) ?? 0,
      verifiedReadings: c.ok ?? 0,
      counts: c,
    });
  }
  return out;
}

interface Observation {
  device: string;
  verified: boolean;
  status?: VerifyStatus;
  time?: number;
  phase: number;
  value?: number;
  message?: string;
  signature?: string;
}

const asVerified = (v: unknown): boolean | undefined =>
  v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined;

/** Phase of a value field: `ENERGY_Total_1` / `last_ENERGY_Total_1` is phase 1, anything else 0. */
const phaseOf = (name: string): number => Number(/_(\d+)$/.exec(name)?.[1] ?? 0);

const TAG_NAMES = new Set([DEVICE_TAG, VERIFIED_TAG, STATUS_TAG, SIGNED_MESSAGE_FIELD, SIGNATURE_FIELD]);

/** Observations of one stock frame, or undefined when it has no device/verified information. */
function observe(f: DataFrame): Observation[] | undefined {
  const time = f.fields.find((x) => x.type === FieldType.time);
  const deviceCol = byName(f, DEVICE_TAG);
  const verifiedCol = byName(f, VERIFIED_TAG);
  const statusCol = byName(f, STATUS_TAG);
  const messageCol = byName(f, SIGNED_MESSAGE_FIELD);
  const signatureCol = byName(f, SIGNATURE_FIELD);
  const values = f.fields.filter((x) => x.type === FieldType.number && !TAG_NAMES.has(x.name));
  const out: Observation[] = [];
  let usable = false;
  // A frame with signatures but no numeric column still yields one observation per row.
  for (const field of values.length ? values : [undefined]) {
    for (let i = 0; i < f.length; i++) {
      const device = field?.labels?.[DEVICE_TAG] ?? at<string>(deviceCol, i);
      const verified = asVerified(field?.labels?.[VERIFIED_TAG] ?? at(verifiedCol, i));
      if (!device || verified === undefined) continue;
      usable = true;
      const value = at<number>(field, i);
      if (field && !finite(value)) continue; // fill(none) gaps and nulls are not readings
      const status = field?.labels?.[STATUS_TAG] ?? at<string>(statusCol, i);
      out.push({
        device,
        verified,
        status: status && isVerifyStatus(status) ? status : undefined,
        time: at<number>(time, i),
        phase: field ? phaseOf(field.name) : 0,
        value,
        message: at<string>(messageCol, i),
        signature: at<string>(signatureCol, i),
      });
    }
  }
  return usable ? out : undefined;
}

const newer = (a: number | undefined, b: number | undefined): boolean => (a ?? -Infinity) > (b ?? -Infinity);

function fromObservations(obs: readonly Observation[]): DeviceTrust[] {
  const devices = new Map<string, DeviceTrust>();
  for (const o of obs) {
    let d = devices.get(o.device);
    if (!d) devices.set(o.device, (d = { device: o.device, readings: 0, verifiedReadings: 0, counts: {} }));
    d.readings++;
    if (o.verified) d.verifiedReadings++;
    if (o.status) d.counts[o.status] = (d.counts[o.status] ?? 0) + 1;
    // Last verdict: the newest observation; on a tie, "not verified" wins.
    if (newer(o.time, d.lastSeen) || (o.time === d.lastSeen && !o.verified) || d.status === undefined) {
      d.lastSeen = o.time;
      d.status = o.status ?? (o.verified ? 'ok' : 'not_verified');
    }
    if (!o.verified || o.value === undefined) continue;
    let signed = d.signed;
    if (!signed || newer(o.time, d.signedAt)) {
      d.signedAt = o.time;
      d.signed = signed = { values: [] };
    }
    if (o.time !== d.signedAt) continue; // an older verified reading
    signed.values[o.phase] = o.value; // phases of one reading arrive as separate observations
    signed.message ??= o.message;
    signed.signature ??= o.signature;
  }
  return [...devices.values()];
}

export function buildTrustOverview(frames: readonly DataFrame[]): TrustOverview {
  const trust = frames.filter(isTrustFrame);
  const observations: Observation[] = [];
  let ignoredFrames = 0;
  for (const f of frames) {
    if (isTrustFrame(f)) continue;
    const o = observe(f);
    if (o) observations.push(...o);
    else ignoredFrames++;
  }
  const byDevice = new Map<string, DeviceTrust>();
  for (const d of [...fromObservations(observations), ...trust.flatMap(fromTrustFrame)]) byDevice.set(d.device, d);
  return { devices: [...byDevice.values()], ignoredFrames };
}
