/** What the panel shows of the devices' trust: freshness, ordering, filtering and the summary line. Pure. */
import { SIGNED_TIME_LENGTH } from '../../core/firmware';
import type { VerifyStatus } from '../../core/status';
import { SEVERITY, type TrustStatus } from '../shared/verdict';
import type { DeviceTrust } from './deviceTrust';
import { disagrees, type RecheckOutcome } from './recheck';

export type SortKey = 'device' | 'status' | 'total' | 'freshness' | 'share';
export interface Sort {
  key: SortKey;
  descending: boolean;
}
export const GROUPS = ['all', 'verified', 'failing', 'stale', 'disagree'] as const;
export type Group = (typeof GROUPS)[number];
export const GROUP_LABELS: Record<Group, string> = {
  all: 'All',
  verified: 'Verified now',
  failing: 'Failing',
  stale: 'Stale',
  disagree: 'Browser disagrees',
};
export const GROUP_DESCRIPTIONS: Record<Group, string> = {
  all: 'Every device',
  verified: 'Last reading verified, and the browser does not contradict it',
  failing: 'Last reading did not verify',
  stale: 'No verified reading in the stale time, or none at all',
  disagree: "The browser's re-check contradicts the stored verified = true",
};

/** How bad a last verdict is, for sorting: forgery signs first, then missing data (shared/verdict). */
const severity = (s: TrustStatus | undefined): number => (s === undefined ? -1 : SEVERITY[s]);

/**
 * How much a device needs attention, for sorting: a stored verdict the browser contradicts above all (an
 * edited or forged row), then the stored verdicts by severity, and a device gone silent (stale) with the
 * failing ones, above the missing-setup verdicts (unknown device, malformed, unsigned) and every healthy one.
 */
const DISAGREE_RANK = SEVERITY.bad_signature + 1;
const STALE_RANK = (SEVERITY.unknown_device + SEVERITY.not_verified) / 2;

export function attention(d: DeviceTrust, v: Pick<ViewInput, 'rechecks' | 'now' | 'staleMs'>): number {
  const r = v.rechecks.get(d.device);
  let rank = severity(d.status);
  if (r !== undefined && disagrees(r)) rank = Math.max(rank, DISAGREE_RANK);
  if (isStale(d, v.now, v.staleMs)) rank = Math.max(rank, STALE_RANK);
  return rank;
}

/** Stale: no verified reading within `staleMs`, or none at all. */
export const isStale = (d: DeviceTrust, now: number, staleMs: number): boolean => d.signedAt === undefined || now - d.signedAt > staleMs;

export const verifiedShare = (d: DeviceTrust): number | undefined => (d.readings > 0 ? d.verifiedReadings / d.readings : undefined);

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/**
 * The last signed total: the digits of `signed_message` as the meter signed them. `asStored` when the query
 * did not select `signed_message` (stock time series): then it is the stored value, which nothing proves.
 */
export function signedTotalText(d: DeviceTrust): { text: string; asStored: boolean } | undefined {
  const signed = d.signed;
  if (!signed) return undefined;
  const text = signed.message?.slice(SIGNED_TIME_LENGTH + 1);
  if (text) return { text: text.startsWith('[') ? text.slice(1, -1).split(',').join(' / ') : text, asStored: false };
  if (signed.message !== undefined || signed.signature !== undefined) return undefined; // half a proof is none
  return signed.values.length ? { text: signed.values.join(' / '), asStored: true } : undefined;
}

/** Failure reasons with counts, worst first: "bad signature 3 · replay 1". */
export function failureCounts(d: DeviceTrust): Array<[VerifyStatus, number]> {
  return (Object.entries(d.counts) as Array<[VerifyStatus, number]>)
    .filter(([s, n]) => s !== 'ok' && n > 0)
    .sort((a, b) => severity(b[0]) - severity(a[0]));
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
const totalSum = (d: DeviceTrust): number | undefined => d.signed?.values.reduce((a, b) => a + b, 0);

function compare(a: DeviceTrust, b: DeviceTrust, key: SortKey, v: ViewInput): number {
  const num = (x: number | undefined, y: number | undefined) => (x ?? -Infinity) - (y ?? -Infinity);
  switch (key) {
    case 'device':
      return collator.compare(a.device, b.device);
    case 'status':
      return attention(a, v) - attention(b, v) || severity(a.status) - severity(b.status);
    case 'total':
      return num(totalSum(a), totalSum(b));
    case 'freshness': // older verified reading = less fresh
      return num(b.signedAt, a.signedAt);
    case 'share':
      return num(verifiedShare(a), verifiedShare(b));
  }
}

export interface ViewInput {
  devices: readonly DeviceTrust[];
  rechecks: ReadonlyMap<string, RecheckOutcome>;
  now: number;
  staleMs: number;
  search: string;
  group: Group;
  sort: Sort;
}

function matchesGroup(d: DeviceTrust, group: Group, v: Pick<ViewInput, 'rechecks' | 'now' | 'staleMs'>): boolean {
  switch (group) {
    case 'all':
      return true;
    case 'verified': {
      const r = v.rechecks.get(d.device);
      return d.status === 'ok' && !(r !== undefined && disagrees(r));
    }
    case 'failing':
      return d.status !== undefined && d.status !== 'ok';
    case 'stale':
      return isStale(d, v.now, v.staleMs);
    case 'disagree': {
      const r = v.rechecks.get(d.device);
      return r !== undefined && disagrees(r);
    }
  }
}

/** Filter, then sort (device name breaks ties so the order is stable). */
export function visibleDevices(v: ViewInput): DeviceTrust[] {
  const needle = v.search.trim().toLowerCase();
  const rows = v.devices.filter((d) => (!needle || d.device.toLowerCase().includes(needle)) && matchesGroup(d, v.group, v));
  const dir = v.sort.descending ? -1 : 1;
  return rows.sort((a, b) => dir * compare(a, b, v.sort.key, v) || collator.compare(a.device, b.device));
}

export function groupCounts(v: Omit<ViewInput, 'search' | 'group' | 'sort'>): Record<Group, number> {
  const counts = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
  for (const d of v.devices) for (const g of GROUPS) if (matchesGroup(d, g, v)) counts[g]++;
  return counts;
}
