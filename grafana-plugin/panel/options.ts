export interface TrustPanelOptions {
  /** Flag a device when its last verified reading is older than this. */
  staleMinutes: number;
  /** Unit shown after the signed total (Tasmota's Total is in kWh). */
  unit: string;
  /** Re-check signatures in the browser when the data source has public keys. */
  recheck: boolean;
}

export const DEFAULT_OPTIONS: TrustPanelOptions = { staleMinutes: 15, unit: 'kWh', recheck: true };
