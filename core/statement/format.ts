/**
 * The statement of verified consumption (docs/statements.md; JSON Schema: statement.schema.json):
 * energy over a period, proven by signed readings, in a form anyone can check offline. Field names are
 * snake_case, as in the key file. Browser-safe: the HTML page and the Grafana panel read it too.
 */

export const STATEMENT_FORMAT = 'meterproof-statement/1';

/** One reading exactly as the plug signed it, and where it was found. */
export interface SignedReading {
  /** The 19 characters of Time the firmware signs: the device's clock, device-local, as signed. */
  readonly signed_time: string;
  /** The Total text as signed: `1.500`, or `[1.500,2.000,3.000]` for a three-phase meter (SetOption129). */
  readonly signed_total: string;
  /** `signed_time,signed_total`: the exact bytes the signature is over. */
  readonly signed_message: string;
  /** Ed25519 signature, 128 lowercase hex digits. */
  readonly signature: string;
  /** The row's time in InfluxDB (RFC 3339, UTC): where the reading was selected. Not signed, so not proven. */
  readonly stored_time: string;
}

/** Readings of one key: the energy between its two signed readings is proven by their difference. */
export interface Segment {
  /** The Ed25519 public key (64 hex) that verifies both readings. */
  readonly public_key: string;
  /** First 8 bytes of SHA-256 of the key, as `meterproof keys list` shows it (aa:bb:…). */
  readonly fingerprint: string;
  readonly start: SignedReading;
  readonly end: SignedReading;
  /** end − start, exactly, as decimal text (the sum of the phases for a three-phase meter). */
  readonly consumption_kwh_text: string;
  /** The same as a JSON number. */
  readonly consumption_kwh: number;
  /** end − start per phase, when both readings print the same phases as an array; else null. */
  readonly phases_kwh_text: readonly string[] | null;
  /** Verified readings stored from start to end (both included), all checked never to go down. */
  readonly readings: number;
}

export type GapKind = 'before_first_reading' | 'between_segments' | 'after_last_reading';

/** Time over which no signature proves the energy used: it is never estimated into the figure. */
export interface Gap {
  readonly kind: GapKind;
  /** Stored times (RFC 3339): the period's edge or the reading that bounds the gap. */
  readonly from: string;
  readonly to: string;
  readonly seconds: number;
  /** The signed Time of the reading that bounds the gap on that side; null at the period's edge. */
  readonly from_signed_time: string | null;
  readonly to_signed_time: string | null;
}

export type IrregularityKind =
  /** A verified reading whose Total is below the one stored before it, under the same key. */
  | 'decrease'
  /** A verified reading whose signed Time is not after the one stored before it. */
  | 'time_reversal'
  /** A row stored as verified whose signature does not verify now. */
  | 'not_reverified'
  /** A verified row whose signed_message is not `<time>,<total>`. */
  | 'unreadable';

export interface Irregularity {
  readonly kind: IrregularityKind;
  readonly stored_time: string;
  readonly signed_message: string | null;
  readonly previous_signed_message: string | null;
  readonly detail: string;
}

export interface Statement {
  readonly format: typeof STATEMENT_FORMAT;
  readonly device: string;
  /** The period asked for, in stored time (RFC 3339, UTC). */
  readonly from: string;
  readonly to: string;
  /** The proven energy: the sum of the segments' consumption, exactly. */
  readonly consumption_kwh_text: string;
  readonly consumption_kwh: number;
  /** Per phase over all segments, when every segment has per-phase figures for the same phases; else null. */
  readonly phases_kwh_text: readonly string[] | null;
  readonly segments: readonly Segment[];
  readonly gaps: readonly Gap[];
  /** Verified readings read from start to end and checked in order (Total never down, signed Time always on). */
  readonly readings_checked: number;
  readonly irregularities: { readonly count: number; readonly examples: readonly Irregularity[] };
  /** Where the readings were read (no URL: it may carry credentials and means nothing to a reader). */
  readonly source: { readonly database: string; readonly measurement: string };
  readonly created: string;
  readonly generator: string;
  /** What the statement proves and what it does not, in words (fixed texts, for the reader). */
  readonly notes: readonly string[];
}

/** The reader's notes every statement carries. */
export const STATEMENT_NOTES: readonly string[] = [
  'Each segment proves the energy counted by one plug key between two readings it signed: the difference of their signed Totals (kWh).',
  'Only the signed times (the plug clock, device-local, as signed) are proven; stored times only show where the readings were found.',
  'Gaps are times no signature covers (a hard reset, a new key, no reading yet): their energy is not in the figure and is not estimated.',
  'A signature proves that the key signed the reading; that the key belongs to the plug rests on how it was enrolled (read from the plug on first use).',
];

export const MAX_IRREGULARITY_EXAMPLES = 20;
