/**
 * The Trust status request flow (docs/grafana.md, "Performance"): the counts first, then every row of a
 * narrow window at the end of the range, and the full row statements only for the devices whose latest
 * rows that window does not hold. InfluxDB reads few points for the window; it would read every point
 * of the proof strings for a selector per device.
 */
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { formatRegexVariable } from '../../core/influxql';
import { VERIFIED_TAG } from '../../core/status';
import type { InfluxResult } from './influxClient';
import { TRUST_COUNT_STATEMENTS, phaseStatements, trustStatements, trustWindowStatement, type Scope } from './statements';

const { deviceTag: DEVICE_TAG } = DEFAULT_FIELD_NAMES;

/** The window spans this many of the fleet's median reading periods: the latest reading, and slack. */
const WINDOW_PERIODS = 2;

/** Runs statements, one per request, and returns their results in order (InfluxClient.run). */
export type RunStatements = (statements: readonly string[]) => Promise<InfluxResult[]>;

/** What the data source hands trustFrame: results in `trustStatements` order, then the window's. */
export interface TrustAnswers {
  results: InfluxResult[];
  executed: string[];
}

/** Per device: its counted rows, and whether it has a counted verified series. */
function countedDevices(counts: readonly InfluxResult[]): Map<string, { rows: number; verified: boolean }> {
  const devices = new Map<string, { rows: number; verified: boolean }>();
  for (const s of counts.flatMap((r) => r.series ?? [])) {
    const name = s.tags?.[DEVICE_TAG];
    if (!name) continue;
    const counted = Math.max(0, ...(s.values ?? []).flatMap((v) => v.slice(1)).map((v) => (typeof v === 'number' ? v : 0)));
    const d = devices.get(name) ?? { rows: 0, verified: false };
    // A series' largest count (its rows, counted by several fields), summed over the device's series.
    devices.set(name, { rows: d.rows + counted, verified: d.verified || s.tags?.[VERIFIED_TAG] === 'true' });
  }
  return devices;
}

/** Where the window begins: WINDOW_PERIODS median periods (range / rows) before the end. */
function windowStart(s: Scope, rows: readonly number[]): number {
  const sorted = rows.filter((n) => n > 0).sort((a, b) => a - b);
  if (sorted.length === 0) return s.toMs;
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return s.toMs - (WINDOW_PERIODS * (s.toMs - s.fromMs)) / median;
}

/**
 * The devices whose latest rows the window may not hold: those with no row in it, and those with a
 * verified series none of whose rows is in it (their last verified reading, the proof shown, is older).
 */
function missedByWindow(counted: ReturnType<typeof countedDevices>, window: InfluxResult): string[] {
  const seen = new Map<string, boolean>();
  for (const s of window.series ?? []) {
    const [device, verified] = [s.columns.indexOf(DEVICE_TAG), s.columns.indexOf(VERIFIED_TAG)];
    for (const v of s.values ?? []) {
      const name = v[device];
      if (typeof name === 'string') seen.set(name, (seen.get(name) ?? false) || v[verified] === 'true');
    }
  }
  return [...counted].filter(([name, d]) => !seen.has(name) || (d.verified && !seen.get(name))).map(([name]) => name);
}

/** The devices named in an answer grouped by device. */
const devicesOf = (r: InfluxResult | undefined): string[] => [
  ...new Set((r?.series ?? []).map((s) => s.tags?.[DEVICE_TAG]).filter((d): d is string => !!d)),
];

/**
 * Runs the Trust status statements for one scope, in up to three steps: the counts, and which devices
 * have multi-phase verified rows; the window (its width from the counts); the row statements for the
 * devices it missed, and the phase counts. The answers are trustFrame's input.
 */
export async function trustAnswers(run: RunStatements, s: Scope): Promise<TrustAnswers> {
  const all = trustStatements(s);
  const countStatements = TRUST_COUNT_STATEMENTS.map((i) => all[i]!);
  const [phaseLast, ...counts] = await run([phaseStatements(s).last, ...countStatements]);
  const counted = countedDevices(counts);
  // A multi-phase device's last verified row stands for its verified series, whose count comes later.
  for (const d of devicesOf(phaseLast)) counted.set(d, { rows: counted.get(d)?.rows ?? 0, verified: true });
  const since = windowStart(
    s,
    [...counted.values()].map((d) => d.rows),
  );
  const executed = [phaseStatements(s).last, ...countStatements];
  let window: InfluxResult = {};
  if (since > s.fromMs) {
    const statement = trustWindowStatement(s, since);
    executed.push(statement);
    window = (await run([statement]))[0] ?? {};
  }
  const windowed = since > s.fromMs;
  const missed = windowed ? missedByWindow(counted, window) : [...counted.keys()];
  const only = (devices: readonly string[]): Scope => ({ ...s, device: formatRegexVariable(devices) });
  // Without a window, every device: the scope as it is, not a list of them all.
  const rows =
    missed.length > 0
      ? trustStatements(windowed ? only(missed) : s).flatMap((q, i) => (TRUST_COUNT_STATEMENTS.includes(i) ? [] : [{ q, i }]))
      : [];
  const phased = devicesOf(phaseLast);
  const last = [...rows.map(({ q }) => q), ...(phased.length > 0 ? [phaseStatements(only(phased)).count] : [])];
  const answers = last.length > 0 ? await run(last) : [];
  executed.push(...last);
  const results: InfluxResult[] = all.map(() => ({}));
  TRUST_COUNT_STATEMENTS.forEach((i, k) => (results[i] = counts[k]!));
  rows.forEach(({ i }, k) => (results[i] = answers[k]!));
  // Phase counts join the verified counts: a series' rows, counted by its Total or by its first phase.
  const [verifiedCounts] = TRUST_COUNT_STATEMENTS;
  if (phased.length > 0) results[verifiedCounts!] = { series: [...(counts[0]!.series ?? []), ...(answers[rows.length]!.series ?? [])] };
  return { results: [...results, window, phaseLast!], executed };
}
