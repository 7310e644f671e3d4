/**
 * Devices whose readings stopped verifying, and how much more checking each may still cost
 * (docs/design.md §4, "Cost under attack"). In json mode a reading whose likeliest Total text does not
 * verify is tried with every other exact rendering (up to 6 more texts, each under every valid key).
 * A device whose last verdict was `ok` always gets them all, so a genuine EnergyRes change verifies;
 * a failing device spends them from a budget that holds two full candidate sets and refills one set a
 * minute. A flood of tampered readings then costs about one check each, like genuine ones.
 */

/** Texts in a full candidate set: decimal counts 0–6. */
const TEXTS_PER_SET = 7;
/** Full candidate sets a failing device may spend at once. */
const SETS_HELD = 2;
/** How long the budget takes to refill one full set. */
const REFILL_MS_PER_SET = 60_000;

interface Failing {
  /** Consecutive bad signatures. */
  run: number;
  /** Checks left, refilled lazily from `at`. */
  checks: number;
  at: number;
}

export class FailingDevices {
  /** Only devices whose last verdict was bad_signature, so only registered ones: healthy devices cost nothing here. */
  private readonly failing = new Map<string, Failing>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  isFailing(device: string): boolean {
    return this.failing.size !== 0 && this.failing.has(device); // no hash lookup per reading while nothing fails
  }

  /**
   * Whether a failing device may run `checks` more checks, with `keys` keys valid for it; spends
   * them if so. A device that is not failing may always.
   */
  afford(device: string, checks: number, keys: number): boolean {
    const f = this.failing.get(device);
    if (!f) return true;
    const set = TEXTS_PER_SET * Math.max(1, keys);
    const t = this.now();
    f.checks = Math.min(SETS_HELD * set, f.checks + ((t - f.at) / REFILL_MS_PER_SET) * set);
    f.at = t;
    if (f.checks < checks) return false;
    f.checks -= checks;
    return true;
  }

  /** Records a verdict; returns the length of the device's current run of bad signatures. */
  record(device: string, status: string): number {
    if (status === 'ok') {
      if (this.failing.size !== 0) this.failing.delete(device);
      return 0;
    }
    if (status !== 'bad_signature') return this.failing.size === 0 ? 0 : (this.failing.get(device)?.run ?? 0);
    const f = this.failing.get(device);
    if (f) return ++f.run;
    this.failing.set(device, { run: 1, checks: Number.POSITIVE_INFINITY, at: this.now() }); // capped to a full budget at first use
    return 1;
  }
}
