/**
 * The trust panel's "Proven consumption" column: per device, the energy over the dashboard's time range
 * from the "Verified consumption" frame (datasource/consumption.ts), proven again here with the panel's
 * key registry (publicKeys.ts), and the statement JSON for download (`meterproof statement verify FILE`).
 * A key change or a drop inside the range shows "gap", an anchor that does not re-verify "unproven":
 * never a number.
 */
import * as React from 'react';
import type { DataFrame, GrafanaTheme2 } from '@grafana/data';
import type { KeyFile } from '../../core/keyfile';
import {
  consumptionStatement,
  isConsumptionFrame,
  proveConsumption,
  readConsumptionFrame,
  type DeviceConsumption,
} from '../datasource/consumption';
import { Badge } from './Badge';

export { isConsumptionFrame };

export interface ConsumptionEntry {
  readonly result: DeviceConsumption;
  /** The statement as downloaded (pretty JSON), only for a proven figure. */
  readonly statementJson?: string;
}

/** Whether the panel's frames include a "Verified consumption" frame (the column is shown only then). */
export const hasConsumption = (series: readonly DataFrame[]): boolean => series.some(isConsumptionFrame);

/** Every device of the consumption frame proven with `keys`; the statements of proven figures, as JSON. */
export async function consumptionEntries(series: readonly DataFrame[], keys: KeyFile | undefined): Promise<Map<string, ConsumptionEntry>> {
  const out = new Map<string, ConsumptionEntry>();
  for (const f of series) {
    const read = readConsumptionFrame(f);
    if (!read) continue;
    const range = { fromMs: read.meta.fromMs, toMs: read.meta.toMs };
    for (const anchors of read.anchors) {
      const result = await proveConsumption(anchors, range, keys);
      const statement = await consumptionStatement(result, range, read.meta);
      out.set(anchors.device, { result, ...(statement && { statementJson: `${JSON.stringify(statement, null, 2)}\n` }) });
    }
  }
  return out;
}

/** The column the trust panel adds when the panel's queries include "Verified consumption". */
export const CONSUMPTION_COLUMN = {
  label: 'Proven consumption',
  title: "Energy between the signed Totals at the time range's ends, re-checked in your browser; gap: no single key proves it",
};

const NONE: ReadonlyMap<string, ConsumptionEntry> = new Map();

/** The entries for the panel's frames, recomputed when the frames or the key registry change. */
export function useConsumption(series: readonly DataFrame[], keys: KeyFile | undefined): ReadonlyMap<string, ConsumptionEntry> {
  const [entries, setEntries] = React.useState<ReadonlyMap<string, ConsumptionEntry>>(NONE);
  React.useEffect(() => {
    if (!hasConsumption(series)) return;
    let cancelled = false;
    void consumptionEntries(series, keys).then((e) => {
      if (!cancelled) setEntries(e);
    });
    return () => {
      cancelled = true;
    };
  }, [series, keys]);
  // Without a consumption frame there is nothing to show, whatever an earlier one gave.
  return hasConsumption(series) ? entries : NONE;
}

const fileName = (device: string): string => `statement-${device.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;

export function ConsumptionCell({
  theme,
  entry,
  unit,
}: {
  theme: GrafanaTheme2;
  entry: ConsumptionEntry | undefined;
  unit: string;
}): React.ReactElement {
  const muted = { color: theme.colors.text.secondary };
  if (!entry) return <span style={muted}>…</span>;
  const { result } = entry;
  const anchors = [result.start, result.end]
    .filter((a) => a !== undefined)
    .map((a, i) => `${i === 0 ? 'start' : 'end'}: signed ${a.time19}, Total ${a.totalText}`)
    .join('\n');
  switch (result.status) {
    case 'proven':
      return (
        <span data-consumption="proven" title={`${anchors}\n${result.gaps} gap(s) at the range's edges`}>
          <span style={{ fontVariantNumeric: 'tabular-nums' }}>{`${result.kwhText} ${unit}`}</span>
          {entry.statementJson && (
            <a
              style={{ marginLeft: 6, color: theme.colors.text.link }}
              href={`data:application/json;charset=utf-8,${encodeURIComponent(entry.statementJson)}`}
              download={fileName(result.device)}
              title="Statement of verified consumption: check it with meterproof statement verify FILE"
            >
              statement
            </a>
          )}
        </span>
      );
    case 'gap':
      return (
        <span data-consumption="gap" title={`${result.reason}\n${anchors}`}>
          <Badge tone="warn" text="gap" />
        </span>
      );
    case 'unproven':
      return (
        <span data-consumption="unproven" title={`${result.reason}\n${anchors}`}>
          <Badge tone="bad" text="unproven" />
        </span>
      );
    case 'none':
      return (
        <span data-consumption="none" style={muted} title={result.reason}>
          none in range
        </span>
      );
  }
}
