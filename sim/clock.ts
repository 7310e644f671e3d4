/**
 * The plugs' clock during a simulation. Tasmota's Time has whole seconds and the processor flags a
 * reading whose signed Time is not newer than the last one as a replay, so each round moves the clock
 * by the interval rounded up to a whole second, never less than one second.
 */
export interface DeviceClock {
  /** Device-local time of round `round` (0-based). */
  at(round: number): Date;
  readonly stepMs: number;
}

export function deviceClock(start: Date, intervalMs: number): DeviceClock {
  const first = Math.floor(start.getTime() / 1000) * 1000;
  const stepMs = Math.max(1, Math.ceil(intervalMs / 1000)) * 1000;
  return { at: (round) => new Date(first + round * stepMs), stepMs };
}

/** Parses `--start`: `YYYY-MM-DDTHH:MM:SS`, the device-local wall time of the first round. */
export function parseStart(s: string): Date {
  const m = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.exec(s);
  const d = m ? new Date(`${s}Z`) : undefined;
  if (!d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 19) !== s) {
    throw new RangeError(`--start must be a device-local time like 2024-03-01T12:00:00, got "${s}"`);
  }
  return d;
}

/**
 * "Now" on a plug's clock: the emulated plug prints Time from a Date's UTC fields (sim/plug.ts), so
 * shift by the zone suffix's offset (`+01:00` → one hour ahead of UTC; none or `Z` → UTC).
 */
export function zonedNow(zone: string, now = new Date()): Date {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(zone);
  const offsetMin = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  return new Date(now.getTime() + offsetMin * 60_000);
}
