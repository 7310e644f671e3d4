/** Per-device counts of an audit, plus the first few disagreements as examples. Memory grows with devices, not rows. */
import type { ReviewedRow } from './late-keys';
import { DISAGREEMENT_KINDS, type DisagreementKind } from './recheck';

export interface DeviceTally {
  readonly device: string;
  rows: number;
  /** Rows carrying a Signature. */
  signed: number;
  /** Rows whose signature verifies, now, exactly the values they show. */
  reverified: number;
  /** Rows stored with `verified=true`. */
  storedVerified: number;
  /** Rows without a `verified` tag (written past the processor): nothing to disagree with, never trusted. */
  untagged: number;
  disagreements: number;
  readonly byKind: Record<DisagreementKind, number>;
  /** Rows rejected when stored that a key registered later proves (late-keys.ts): not disagreements. */
  verifiedLater: number;
}

export interface Example {
  readonly time: string;
  readonly device: string;
  readonly kind: DisagreementKind;
  readonly detail: string;
}

export const MAX_EXAMPLES = 20;

export class AuditTally {
  rows = 0;
  disagreements = 0;
  verifiedLater = 0;
  readonly examples: Example[] = [];
  private readonly byDevice = new Map<string, DeviceTally>();

  add(check: ReviewedRow, time: string): void {
    let d = this.byDevice.get(check.device);
    if (!d) {
      d = {
        device: check.device,
        rows: 0,
        signed: 0,
        reverified: 0,
        storedVerified: 0,
        untagged: 0,
        disagreements: 0,
        byKind: zeroKinds(),
        verifiedLater: 0,
      };
      this.byDevice.set(check.device, d);
    }
    this.rows++;
    d.rows++;
    if (check.signed) d.signed++;
    if (check.proven) d.reverified++;
    if (check.storedVerified === true) d.storedVerified++;
    if (check.storedVerified === undefined) d.untagged++;
    if (check.verifiedLater) {
      this.verifiedLater++;
      d.verifiedLater++;
    }
    const problem = check.disagreement;
    if (problem) {
      this.disagreements++;
      d.disagreements++;
      d.byKind[problem.kind]++;
      if (this.examples.length < MAX_EXAMPLES)
        this.examples.push({ time, device: check.device, kind: problem.kind, detail: problem.detail });
    }
  }

  devices(): DeviceTally[] {
    return [...this.byDevice.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  }
}

const zeroKinds = () => Object.fromEntries(DISAGREEMENT_KINDS.map((k) => [k, 0])) as Record<DisagreementKind, number>;
