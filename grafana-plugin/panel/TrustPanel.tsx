import * as React from 'react';
import { css } from '@emotion/css';
import { LoadingState, type GrafanaTheme2, type PanelProps } from '@grafana/data';
import { useStyles2, useTheme2 } from '@grafana/ui';
import { STATUS_LABEL } from '../shared/statusText';
import { Badge, RecheckBadge, StatusBadge } from './Badge';
import { ConsumptionCell, CONSUMPTION_COLUMN, CONSUMPTION_WIDTH, hasConsumption, isConsumptionFrame, useConsumption } from './Consumption';
import { buildTrustOverview, type DeviceTrust } from './deviceTrust';
import type { TrustPanelOptions } from './options';
import { useKeyList } from './publicKeys';
import type { RecheckOutcome } from './recheck';
import { useRechecks } from './useRechecks';
import {
  GROUPS,
  GROUP_LABELS,
  failureCounts,
  formatAge,
  groupCounts,
  isStale,
  signedTotalText,
  verifiedShare,
  visibleDevices,
  type Group,
  type Sort,
  type SortKey,
} from './view';
import { VirtualRows } from './VirtualRows';

const ROW_HEIGHT = 34;
const TOOLBAR_HEIGHT = 40;
const HEADER_HEIGHT = 30;
const GRID = 'minmax(110px, 1.5fr) 150px minmax(120px, 1.3fr) minmax(160px, 1fr) 120px minmax(120px, 1.5fr) minmax(200px, 1.5fr)';

const COLUMNS: Array<{ key?: SortKey; label: string; title?: string }> = [
  { key: 'device', label: 'Device' },
  { key: 'status', label: 'Last verdict', title: 'verify_status of the last reading' },
  { key: 'total', label: 'Last signed total', title: 'As signed by the meter (digits of signed_message)' },
  { key: 'freshness', label: 'Last verified', title: 'Time since the last verified reading' },
  { key: 'share', label: 'Verified share', title: 'Share of readings in the time range that verified' },
  { label: 'Failures in range' },
  { label: 'Browser re-check', title: 'Ed25519 (strict) again in your browser, with the data source public keys' },
];

const getStyles = (theme: GrafanaTheme2) => ({
  asStored: css({ color: theme.colors.text.secondary, marginLeft: theme.spacing(0.5) }),
});

const AS_STORED = 'This query has no signed_message: the value as stored, which no signature here proves';

/** Ticks so that "5 min ago" and the stale flag move on without a query refresh. */
function useNow(intervalMs: number): number {
  const [now, setNow] = React.useState(() => Date.now());
  React.useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

function Message({
  theme,
  role,
  title,
  children,
}: {
  theme: GrafanaTheme2;
  role: 'status' | 'alert';
  title: string;
  children?: React.ReactNode;
}) {
  return (
    <div role={role} style={{ padding: theme.spacing(2), color: role === 'alert' ? theme.colors.error.text : theme.colors.text.secondary }}>
      <div style={{ fontWeight: 600, marginBottom: 4 }}>{title}</div>
      {children}
    </div>
  );
}

export function TrustPanel({ data, options, width, height }: PanelProps<TrustPanelOptions>): React.ReactElement {
  const theme = useTheme2();
  const styles = useStyles2(getStyles);
  const now = useNow(30_000);
  const [search, setSearch] = React.useState('');
  const [group, setGroup] = React.useState<Group>('all');
  const [sort, setSort] = React.useState<Sort>({ key: 'status', descending: true });

  // The "Verified consumption" frame is no trust data: it feeds the consumption column (Consumption.tsx).
  const overview = React.useMemo(() => buildTrustOverview(data.series.filter((f) => !isConsumptionFrame(f))), [data.series]);
  // Parsed once per key text, so that refreshes keep the re-check cache (it is keyed by the KeyFile).
  const keyList = useKeyList(data.request, options.recheck);
  const rechecks = useRechecks(overview.devices, 'keys' in keyList ? keyList.keys : undefined);
  const consumption = useConsumption(data.series, 'keys' in keyList ? keyList.keys : undefined);
  const withConsumption = hasConsumption(data.series);
  const grid = withConsumption ? `${GRID} ${CONSUMPTION_WIDTH}` : GRID;
  const columns: typeof COLUMNS = withConsumption ? [...COLUMNS, CONSUMPTION_COLUMN] : COLUMNS;
  const staleMs = Math.max(1, options.staleMinutes) * 60_000;
  const rows = React.useMemo(
    () => visibleDevices({ devices: overview.devices, rechecks, now, staleMs, search, group, sort }),
    [overview.devices, rechecks, now, staleMs, search, group, sort],
  );
  const counts = React.useMemo(
    () => groupCounts({ devices: overview.devices, rechecks, now, staleMs }),
    [overview.devices, rechecks, now, staleMs],
  );

  const errorText =
    data.errors
      ?.map((e) => e.message)
      .filter(Boolean)
      .join('; ') || data.error?.message;
  if (overview.devices.length === 0) {
    if (data.state === LoadingState.Loading) return <Message theme={theme} role="status" title="Loading trust data…" />;
    if (errorText || data.state === LoadingState.Error) {
      return (
        <Message theme={theme} role="alert" title="The query failed">
          {errorText ?? 'No details were given; open the query inspector.'}
        </Message>
      );
    }
    return (
      <Message theme={theme} role="status" title="No readings in this time range">
        {overview.ignoredFrames > 0
          ? `${overview.ignoredFrames} frame(s) carry no device and verified information: use the meterproof "Trust status" query, or group an InfluxDB query by "device" and "verified".`
          : 'Widen the time range, or check the data source with "Save & test".'}
      </Message>
    );
  }

  const toggleSort = (key: SortKey) => setSort((s) => ({ key, descending: s.key === key ? !s.descending : key !== 'device' }));
  const rechecking = 'keys' in keyList;
  const bodyHeight = Math.max(ROW_HEIGHT, height - TOOLBAR_HEIGHT - HEADER_HEIGHT - (errorText || 'error' in keyList ? 24 : 0));
  const border = `1px solid ${theme.colors.border.weak}`;
  const cell: React.CSSProperties = { overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap', padding: '0 6px' };

  const renderRow = (d: DeviceTrust, index: number) => {
    const share = verifiedShare(d);
    const stale = isStale(d, now, staleMs);
    const total = signedTotalText(d);
    const outcome: RecheckOutcome | 'pending' | undefined =
      d.signed?.message && d.signed.signature ? (rechecks.get(d.device) ?? 'pending') : undefined;
    return (
      <div
        role="row"
        aria-rowindex={index + 2}
        data-device={d.device}
        style={{ display: 'grid', gridTemplateColumns: grid, alignItems: 'center', height: ROW_HEIGHT, borderBottom: border }}
      >
        <div role="cell" style={{ ...cell, fontWeight: 500 }} title={d.device}>
          {d.device}
        </div>
        <div role="cell" style={cell}>
          <StatusBadge theme={theme} status={d.status} />
        </div>
        <div
          role="cell"
          style={{ ...cell, fontVariantNumeric: 'tabular-nums' }}
          title={d.signed?.message ? `signed_message: ${d.signed.message}` : total?.asStored ? AS_STORED : undefined}
        >
          {total ? (
            <>
              {`${total.text} ${options.unit}`}
              {total.asStored && <span className={styles.asStored}>(as stored)</span>}
            </>
          ) : (
            <span style={{ color: theme.colors.text.secondary }}>none in range</span>
          )}
        </div>
        <div role="cell" style={cell} title={d.signedAt ? new Date(d.signedAt).toISOString() : 'no verified reading in range'}>
          {d.signedAt !== undefined && `${formatAge(now - d.signedAt)} ago `}
          {stale && <Badge theme={theme} tone="warn" text="stale" />}
        </div>
        <div role="cell" style={cell}>
          {share === undefined ? '–' : <ShareBar theme={theme} share={share} />}
        </div>
        <div
          role="cell"
          style={cell}
          title={
            failureCounts(d)
              .map(([s, n]) => `${STATUS_LABEL[s]}: ${n}`)
              .join('\n') || undefined
          }
        >
          {failureCounts(d)
            .map(([s, n]) => `${STATUS_LABEL[s]} ${n}`)
            .join(' · ') || <span style={{ color: theme.colors.text.secondary }}>none</span>}
        </div>
        <div role="cell" style={cell}>
          {rechecking ? (
            <RecheckBadge theme={theme} outcome={outcome} />
          ) : (
            <span style={{ color: theme.colors.text.secondary }}>no keys</span>
          )}
        </div>
        {withConsumption && (
          <div role="cell" style={cell}>
            <ConsumptionCell theme={theme} entry={consumption.get(d.device)} unit={options.unit} />
          </div>
        )}
      </div>
    );
  };

  return (
    <div style={{ width, height, display: 'flex', flexDirection: 'column', fontSize: theme.typography.bodySmall.fontSize }}>
      <div
        style={{
          display: 'flex',
          gap: 8,
          alignItems: 'center',
          height: TOOLBAR_HEIGHT,
          padding: '0 6px',
          flexWrap: 'nowrap',
          overflow: 'hidden',
        }}
      >
        <input
          aria-label="Filter devices"
          placeholder="Filter devices"
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          style={{ width: 160, padding: '3px 6px', background: theme.colors.background.primary, color: theme.colors.text.primary, border }}
        />
        <select
          aria-label="Show"
          value={group}
          onChange={(e) => setGroup(e.currentTarget.value as Group)}
          style={{ padding: '3px 6px', background: theme.colors.background.primary, color: theme.colors.text.primary, border }}
        >
          {GROUPS.map((g) => (
            <option key={g} value={g}>{`${GROUP_LABELS[g]} (${counts[g]})`}</option>
          ))}
        </select>
        <span role="status" aria-label="Summary" style={{ color: theme.colors.text.secondary, whiteSpace: 'nowrap' }}>
          {`${counts.all} devices · ${counts.verified} verified now · ${counts.failing} failing · ${counts.stale} stale`}
          {rechecking && ` · ${counts.disagree} differ in browser`}
        </span>
      </div>
      {(errorText || 'error' in keyList) && (
        <div
          role="alert"
          style={{
            height: 24,
            color: theme.colors.error.text,
            padding: '0 6px',
            whiteSpace: 'nowrap',
            overflow: 'hidden',
            textOverflow: 'ellipsis',
          }}
        >
          {[errorText, 'error' in keyList ? keyList.error : undefined].filter(Boolean).join('; ')}
        </div>
      )}
      <div role="table" aria-rowcount={rows.length + 1} style={{ display: 'flex', flexDirection: 'column' }}>
        <div
          role="row"
          style={{
            display: 'grid',
            gridTemplateColumns: grid,
            height: HEADER_HEIGHT,
            alignItems: 'center',
            borderBottom: border,
            fontWeight: 600,
          }}
        >
          {columns.map((c) => {
            const key = c.key;
            const active = key !== undefined && sort.key === key;
            return (
              <div
                key={c.label}
                role="columnheader"
                title={c.title}
                aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}
                style={{ ...cell, cursor: key ? 'pointer' : undefined }}
                onClick={key ? () => toggleSort(key) : undefined}
              >
                {c.label}
                {active && (sort.descending ? ' ▼' : ' ▲')}
              </div>
            );
          })}
        </div>
        {rows.length === 0 ? (
          <Message theme={theme} role="status" title="No device matches the filter" />
        ) : (
          <VirtualRows items={rows} rowHeight={ROW_HEIGHT} height={bodyHeight} itemKey={(d) => d.device} renderRow={renderRow} />
        )}
      </div>
    </div>
  );
}

function ShareBar({ theme, share }: { theme: GrafanaTheme2; share: number }) {
  const pct = Math.round(share * 1000) / 10;
  const color = share >= 0.99 ? theme.colors.success.main : share >= 0.9 ? theme.colors.warning.main : theme.colors.error.main;
  return (
    <span style={{ display: 'inline-flex', alignItems: 'center', gap: 6 }} title={`${pct} % of readings verified`}>
      <span style={{ width: 44, height: 6, background: theme.colors.background.secondary, borderRadius: 3, overflow: 'hidden' }}>
        <span style={{ display: 'block', width: `${pct}%`, height: '100%', background: color }} />
      </span>
      {`${pct} %`}
    </span>
  );
}
