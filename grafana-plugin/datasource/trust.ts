/**
 * The Trust status request flow (docs/grafana.md, "Performance"): the counts first, then every row of a
 * narrow window at the end of the range, and the full row statements only for the devices whose latest
 * rows that window does not hold. InfluxDB reads few points for the window; it would read every point
 * of the proof strings for a selector per device.
 */
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { formatRegexVariable } from '../../core/influxql';
import { STATUS_TAG, VERIFIED_TAG } from '../../core/status';
import { PartialAnswerError, type InfluxResult } from './influxAnswers';
import {
  HOUR_MS,
  TRUST_COUNT_STATEMENTS,
  hourlyCountStatements,
  phaseStatements,
  trustStatements,
  trustWindowStatement,
  type Scope,
} from './statements';

const { deviceTag: DEVICE_TAG } = DEFAULT_FIELD_NAMES;

/** The window spans this many of the fleet's median reading periods: the latest reading, and slack. */
const WINDOW_PERIODS = 2;

/**
 * Ranges longer than this count verified rows from the hourly counts, when the data source names them:
 * shorter ones cost InfluxDB little on raw rows.
 */
export const HOURLY_COUNTS_MIN_MS = 2 * 86_400_000;

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

/** The hour after the latest one the continuous query wrote, within `[startMs, endMs]`. */
function hoursWritten(last: readonly InfluxResult[], startMs: number, endMs: number): number {
  const times = last.flatMap((r) => r.series ?? []).flatMap((s) => (s.values ?? []).map((v) => v[0]));
  const latest = Math.max(startMs - HOUR_MS, ...times.filter((t): t is number => typeof t === 'number'));
  return Math.min(endMs, latest + HOUR_MS);
}

/**
 * Hourly and raw counts summed per series (device and verdict) into one `count_<Total>`: a verified row
 * is counted by its Total or by its first phase, as the raw flow sums its Total and phase counts.
 */
function summedCounts(answers: readonly InfluxResult[], totalField: string): InfluxResult {
  const sums = new Map<string, { tags: Record<string, string>; n: number }>();
  for (const s of answers.flatMap((r) => r.series ?? [])) {
    const tags = s.tags ?? {};
    const key = JSON.stringify([tags[DEVICE_TAG], tags[VERIFIED_TAG], tags[STATUS_TAG]]);
    const n = (s.values ?? []).flatMap((v) => v.slice(1)).reduce<number>((a, v) => a + (typeof v === 'number' ? v : 0), 0);
    const into = sums.get(key) ?? { tags, n: 0 };
    sums.set(key, { tags, n: into.n + n });
  }
  const columns = ['time', `count_${totalField}`];
  return { series: [...sums.values()].map(({ tags, n }) => ({ tags, columns, values: [[0, n]] })) };
}

/**
 * The verified and the other counts (TRUST_COUNT_STATEMENTS order) and the multi-phase devices' last
 * verified rows. With `hourly` over a long range the verified count comes from the hourly counts and raw
 * rows around them: an hour the continuous query missed only lowers it, and the failing rows, few
 * series, stay counted raw. Says whether the verified count already holds the phases.
 */
async function countAnswers(
  run: RunStatements,
  s: Scope,
  all: readonly string[],
  executed: string[],
  hourly?: string,
): Promise<{ counts: InfluxResult[]; phaseLast: InfluxResult; phasesCounted: boolean }> {
  const countStatements = TRUST_COUNT_STATEMENTS.map((i) => all[i]!);
  // Other filters name tags the hourly counts do not keep.
  const hours = hourly && s.filters.length === 0 && s.toMs - s.fromMs > HOURLY_COUNTS_MIN_MS ? hourlyCountStatements(s, hourly) : undefined;
  const first = [phaseStatements(s).last, ...(hours ? [countStatements[1]!, ...hours.last] : countStatements)];
  executed.push(...first);
  const [phaseLast, ...answers] = await run(first);
  if (!hours) return { counts: answers, phaseLast: phaseLast!, phasesCounted: false };
  const summed = hours.counts(hoursWritten(answers.slice(1), hours.startMs, hours.endMs));
  executed.push(...summed);
  return { counts: [summedCounts(await run(summed), s.totalField), answers[0]!], phaseLast: phaseLast!, phasesCounted: true };
}

/**
 * Runs the Trust status statements for one scope, in up to three steps: the counts, and which devices
 * have multi-phase verified rows; the window (its width from the counts); the row statements for the
 * devices it missed, and the phase counts. The answers are trustFrame's input. `hourly`: the measurement
 * of hourly counts (`jsonData.hourlyCounts`), if any.
 */
export async function trustAnswers(run: RunStatements, s: Scope, hourly?: string): Promise<TrustAnswers> {
  const all = trustStatements(s);
  const executed: string[] = [];
  const { counts: answered, phaseLast, phasesCounted } = await countAnswers(run, s, all, executed, hourly);
  const counted = countedDevices(answered);
  // A multi-phase device's last verified row stands for its verified series, whose count comes later.
  for (const d of devicesOf(phaseLast)) counted.set(d, { rows: counted.get(d)?.rows ?? 0, verified: true });
  const since = windowStart(
    s,
    [...counted.values()].map((d) => d.rows),
  );
  let window: InfluxResult = {};
  let windowed = since > s.fromMs;
  if (windowed) {
    const statement = trustWindowStatement(s, since);
    executed.push(statement);
    // A window cut short by a row limit may lack a device's latest rows: then every device is read in full.
    window = await run([statement]).then(
      ([r]) => r ?? {},
      (e: unknown) => {
        if (!(e instanceof PartialAnswerError)) throw e;
        windowed = false;
        return {};
      },
    );
  }
  const missed = windowed ? missedByWindow(counted, window) : [...counted.keys()];
  const only = (devices: readonly string[]): Scope => ({ ...s, device: formatRegexVariable(devices) });
  // Without a window, every device: the scope as it is, not a list of them all.
  const rows =
    missed.length > 0
      ? trustStatements(windowed ? only(missed) : s).flatMap((q, i) => (TRUST_COUNT_STATEMENTS.includes(i) ? [] : [{ q, i }]))
      : [];
  const phased = phasesCounted ? [] : devicesOf(phaseLast);
  const last = [...rows.map(({ q }) => q), ...(phased.length > 0 ? [phaseStatements(only(phased)).count] : [])];
  const answers = last.length > 0 ? await run(last) : [];
  executed.push(...last);
  const results: InfluxResult[] = all.map(() => ({}));
  TRUST_COUNT_STATEMENTS.forEach((i, k) => (results[i] = answered[k]!));
  rows.forEach(({ i }, k) => (results[i] = answers[k]!));
  // Phase counts join the verified counts: a series' rows, counted by its Total or by its first phase.
  const [verifiedCounts] = TRUST_COUNT_STATEMENTS;
  if (phased.length > 0) results[verifiedCounts!] = { series: [...(answered[0]!.series ?? []), ...(answers[rows.length]!.series ?? [])] };
  return { results: [...results, window, phaseLast], executed };
}
