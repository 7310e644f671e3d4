import * as React from 'react';
import { css, cx } from '@emotion/css';
import { LoadingState, type GrafanaTheme2, type PanelProps } from '@grafana/data';
import { Input, RadioButtonGroup, useStyles2, useTheme2 } from '@grafana/ui';
import { STATUS_LABEL } from '../shared/statusText';
import { Badge, RecheckBadge, StatusBadge } from './Badge';
import { buildTrustOverview, type DeviceTrust } from './deviceTrust';
import type { TrustPanelOptions } from './options';
import { useKeyList } from './publicKeys';
import { ConsumptionCell, CONSUMPTION_COLUMN, hasConsumption, isConsumptionFrame, useConsumption } from './Consumption';
import type { RecheckOutcome } from './recheck';
import { useRechecks } from './useRechecks';
import {
  GROUPS,
  GROUP_DESCRIPTIONS,
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
const ALERT_HEIGHT = 24;
const CELL_PADDING_PX = 12;

interface ColumnDef {
  key?: SortKey;
  label: string;
  title?: string;
  /** Least width in px (the total column's comes from its longest text). */
  min: number;
  /** Share of the room left; none: exactly `min`. */
  fr?: number;
}

const COLUMNS: ColumnDef[] = [
  { key: 'device', label: 'Device', min: 110, fr: 1.5 },
  { key: 'status', label: 'Last verdict', title: 'verify_status of the last reading', min: 180 },
  { key: 'total', label: 'Last signed total', title: 'As signed by the meter (digits of signed_message)', min: 0, fr: 1.3 },
  { key: 'freshness', label: 'Last verified', title: 'Time since the last verified reading', min: 140, fr: 1 },
  { key: 'share', label: 'Verified share', title: 'Share of readings in the time range that verified', min: 120 },
  { label: 'Failures in range', min: 120, fr: 1.5 },
  { label: 'Browser re-check', title: 'Ed25519 (strict) again in your browser, with the data source public keys', min: 240, fr: 1.5 },
];

/**
 * The grid's columns and the table's least width. The total column is as wide as its longest text (in
 * `ch`, the width of a digit: totals are drawn with tabular digits), so a three-phase total such as
 * `1201.500 / 980.250 / 1110.000 kWh` is never cut; a narrow panel scrolls the table sideways instead.
 */
function layout(totalChars: number, columns: readonly ColumnDef[]): { grid: string; minWidth: string } {
  const totalMin = `calc(${totalChars}ch + ${CELL_PADDING_PX}px)`;
  const grid = columns
    .map((c) => {
      const min = c.key === 'total' ? totalMin : `${c.min}px`;
      return c.fr ? `minmax(${min}, ${c.fr}fr)` : min;
    })
    .join(' ');
  const px = columns.reduce((n, c) => n + c.min, 0);
  return { grid, minWidth: `calc(${px + CELL_PADDING_PX}px + ${totalChars}ch)` };
}

/** The proven-consumption column, shown only beside a "Verified consumption" query (Consumption.tsx). */
const WITH_CONSUMPTION: ColumnDef[] = [...COLUMNS, { ...CONSUMPTION_COLUMN, min: 170, fr: 1.3 }];

const getStyles = (theme: GrafanaTheme2) => {
  const border = `1px solid ${theme.colors.border.weak}`;
  return {
    root: css({ display: 'flex', flexDirection: 'column', fontSize: theme.typography.bodySmall.fontSize }),
    toolbar: css({
      display: 'flex',
      gap: theme.spacing(1),
      alignItems: 'center',
      height: TOOLBAR_HEIGHT,
      flexShrink: 0,
      padding: theme.spacing(0, 0.75),
      overflowX: 'auto',
      overflowY: 'hidden',
    }),
    search: css({ flex: 'none', width: theme.spacing(22) }),
    groups: css({ flexShrink: 0 }),
    summary: css({ color: theme.colors.text.secondary, whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis', minWidth: 0 }),
    alert: css({
      height: ALERT_HEIGHT,
      flexShrink: 0,
      color: theme.colors.error.text,
      padding: theme.spacing(0, 0.75),
      whiteSpace: 'nowrap',
      overflow: 'hidden',
      textOverflow: 'ellipsis',
    }),
    header: css({
      position: 'sticky',
      top: 0,
      zIndex: 1,
      display: 'grid',
      height: HEADER_HEIGHT,
      alignItems: 'center',
      borderBottom: border,
      fontWeight: theme.typography.fontWeightMedium,
      background: theme.colors.background.primary,
    }),
    row: css({ display: 'grid', alignItems: 'center', height: ROW_HEIGHT, borderBottom: border }),
    cell: css({ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap', padding: theme.spacing(0, 0.75) }),
    device: css({ fontWeight: theme.typography.fontWeightMedium }),
    total: css({ fontVariantNumeric: 'tabular-nums', textOverflow: 'clip' }),
    sortable: css({ cursor: 'pointer', userSelect: 'none', '&:hover': { color: theme.colors.text.maxContrast } }),
    muted: css({ color: theme.colors.text.secondary }),
    asStored: css({ color: theme.colors.text.secondary, marginLeft: theme.spacing(0.5) }),
    message: css({ padding: theme.spacing(2), color: theme.colors.text.secondary }),
    messageAlert: css({ color: theme.colors.error.text }),
    messageTitle: css({ fontWeight: theme.typography.fontWeightMedium, marginBottom: theme.spacing(0.5) }),
    share: css({ display: 'inline-flex', alignItems: 'center', gap: theme.spacing(0.75), fontVariantNumeric: 'tabular-nums' }),
    shareTrack: css({
      display: 'inline-block',
      width: 44,
      height: 8,
      borderRadius: theme.shape.radius.default,
      border: '1px solid',
      overflow: 'hidden',
      background: theme.colors.background.secondary,
    }),
    shareFill: css({ display: 'block', height: '100%' }),
    // 0 % is a result (every reading failed), never to be taken for "no data": an empty red bar, red bold text.
    shareZero: css({ color: theme.colors.error.text, fontWeight: theme.typography.fontWeightBold }),
  };
};
type Styles = ReturnType<typeof getStyles>;

const AS_STORED = 'This query has no signed_message: the value as stored, which no signature here proves';
const AS_STORED_TEXT = '(as stored)';
const NO_TOTAL = 'none in range';

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
  styles,
  role,
  title,
  children,
}: {
  styles: Styles;
  role: 'status' | 'alert';
  title: string;
  children?: React.ReactNode;
}) {
  return (
    <div role={role} className={cx(styles.message, role === 'alert' && styles.messageAlert)}>
      <div className={styles.messageTitle}>{title}</div>
      {children}
    </div>
  );
}

export function TrustPanel({ data, options, width, height }: PanelProps<TrustPanelOptions>): React.ReactElement {
  const styles = useStyles2(getStyles);
  const now = useNow(30_000);
  const [search, setSearch] = React.useState('');
  const [group, setGroup] = React.useState<Group>('all');
  const [sort, setSort] = React.useState<Sort>({ key: 'status', descending: true });

  // The "Verified consumption" frame is no trust data: it feeds the consumption column (Consumption.tsx).
  const overview = React.useMemo(() => buildTrustOverview(data.series.filter((f) => !isConsumptionFrame(f))), [data.series]);
  const keyList = useKeyList(data.request, options.recheck);
  const consumption = useConsumption(data.series, 'keys' in keyList ? keyList.keys : undefined);
  const withConsumption = hasConsumption(data.series);
  const theme = useTheme2();
  const columns = withConsumption ? WITH_CONSUMPTION : COLUMNS;
  // The devices whose rows are on screen, re-checked first (VirtualRows says which as the table scrolls).
  const inView = React.useRef<readonly string[]>([]);
  const onShown = React.useCallback((shown: readonly DeviceTrust[]) => {
    inView.current = shown.map((d) => d.device);
  }, []);
  const rechecks = useRechecks(overview.devices, 'keys' in keyList ? keyList.keys : undefined, inView);
  const staleMs = Math.max(1, options.staleMinutes) * 60_000;
  const rows = React.useMemo(
    () => visibleDevices({ devices: overview.devices, rechecks, now, staleMs, search, group, sort }),
    [overview.devices, rechecks, now, staleMs, search, group, sort],
  );
  const counts = React.useMemo(
    () => groupCounts({ devices: overview.devices, rechecks, now, staleMs }),
    [overview.devices, rechecks, now, staleMs],
  );
  // Over all devices, not the rows in view, so that the column does not change width while scrolling.
  const { grid, minWidth } = React.useMemo(() => {
    let chars = COLUMNS.find((c) => c.key === 'total')!.label.length;
    for (const d of overview.devices) {
      const t = signedTotalText(d);
      chars = Math.max(chars, t ? `${t.text} ${options.unit}`.length + (t.asStored ? AS_STORED_TEXT.length + 1 : 0) : NO_TOTAL.length);
    }
    return layout(chars + 1, columns);
  }, [overview.devices, options.unit, columns]);

  const errorText =
    data.errors
      ?.map((e) => e.message)
      .filter(Boolean)
      .join('; ') || data.error?.message;
  if (overview.devices.length === 0) {
    if (data.state === LoadingState.Loading) return <Message styles={styles} role="status" title="Loading trust data…" />;
    if (errorText || data.state === LoadingState.Error) {
      return (
        <Message styles={styles} role="alert" title="The query failed">
          {errorText ?? 'No details were given; open the query inspector.'}
        </Message>
      );
    }
    return (
      <Message styles={styles} role="status" title="No readings in this time range">
        {overview.ignoredFrames > 0
          ? `${overview.ignoredFrames} frame(s) carry no device and verified information: use the meterproof "Trust status" query, or group an InfluxDB query by "device" and "verified".`
          : 'Widen the time range, or check the data source with "Save & test".'}
      </Message>
    );
  }

  const toggleSort = (key: SortKey) => setSort((s) => ({ key, descending: s.key === key ? !s.descending : key !== 'device' }));
  const rechecking = 'keys' in keyList;
  const alert = [errorText, 'error' in keyList ? keyList.error : undefined].filter(Boolean).join('; ');
  const tableHeight = Math.max(HEADER_HEIGHT + ROW_HEIGHT, height - TOOLBAR_HEIGHT - (alert ? ALERT_HEIGHT : 0));
  const groupOptions = GROUPS.filter((g) => g !== 'disagree' || rechecking).map((g) => ({
    value: g,
    label: `${GROUP_LABELS[g]} ${counts[g]}`,
    ariaLabel: `${GROUP_DESCRIPTIONS[g]}: ${counts[g]}`,
  }));

  const renderRow = (d: DeviceTrust, index: number) => {
    const share = verifiedShare(d);
    const stale = isStale(d, now, staleMs);
    const total = signedTotalText(d);
    const outcome: RecheckOutcome | 'pending' | undefined =
      d.signed?.message && d.signed.signature ? (rechecks.get(d.device) ?? 'pending') : undefined;
    const failures = failureCounts(d);
    return (
      <div role="row" aria-rowindex={index + 2} data-device={d.device} className={styles.row} style={{ gridTemplateColumns: grid }}>
        <div role="cell" className={cx(styles.cell, styles.device)} title={d.device}>
          {d.device}
        </div>
        <div role="cell" className={styles.cell}>
          <StatusBadge status={d.status} />
        </div>
        <div
          role="cell"
          data-column="total"
          className={cx(styles.cell, styles.total)}
          title={d.signed?.message ? `signed_message: ${d.signed.message}` : total?.asStored ? AS_STORED : undefined}
        >
          {total ? (
            <>
              {`${total.text} ${options.unit}`}
              {total.asStored && <span className={styles.asStored}>{AS_STORED_TEXT}</span>}
            </>
          ) : (
            <span className={styles.muted}>{NO_TOTAL}</span>
          )}
        </div>
        <div role="cell" className={styles.cell} title={d.signedAt ? new Date(d.signedAt).toISOString() : 'no verified reading in range'}>
          {d.signedAt !== undefined && `${formatAge(now - d.signedAt)} ago `}
          {stale && <Badge tone="warn" text="stale" />}
        </div>
        <div role="cell" className={styles.cell}>
          {share === undefined ? (
            <span className={styles.muted} data-share="none" title="No reading in the time range">
              no readings
            </span>
          ) : (
            <ShareBar styles={styles} share={share} readings={d.readings} />
          )}
        </div>
        <div role="cell" className={styles.cell} title={failures.map(([s, n]) => `${STATUS_LABEL[s]}: ${n}`).join('\n') || undefined}>
          {failures.map(([s, n]) => `${STATUS_LABEL[s]} ${n}`).join(' · ') || <span className={styles.muted}>none</span>}
        </div>
        <div role="cell" className={styles.cell}>
          {rechecking ? <RecheckBadge outcome={outcome} /> : <span className={styles.muted}>no keys</span>}
        </div>
        {withConsumption && (
          <div role="cell" className={styles.cell}>
            <ConsumptionCell theme={theme} entry={consumption.get(d.device)} unit={options.unit} />
          </div>
        )}
      </div>
    );
  };

  const header = (
    <div role="rowgroup" className={styles.header} style={{ gridTemplateColumns: grid }}>
      <div role="row" style={{ display: 'contents' }}>
        {columns.map((c) => {
          const key = c.key;
          const active = key !== undefined && sort.key === key;
          return (
            <div
              key={c.label}
              role="columnheader"
              title={c.title}
              aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}
              className={cx(styles.cell, key && styles.sortable)}
              onClick={key ? () => toggleSort(key) : undefined}
            >
              {c.label}
              {active && (sort.descending ? ' ▼' : ' ▲')}
            </div>
          );
        })}
      </div>
    </div>
  );

  return (
    <div className={styles.root} style={{ width, height }}>
      <div className={styles.toolbar}>
        <div className={styles.search}>
          <Input
            aria-label="Filter devices"
            placeholder="Filter devices"
            value={search}
            onChange={(e) => setSearch(e.currentTarget.value)}
          />
        </div>
        <div role="group" aria-label="Show" className={styles.groups}>
          <RadioButtonGroup<Group> size="sm" options={groupOptions} value={group} onChange={(g) => setGroup(g)} />
        </div>
        <span role="status" aria-label="Summary" className={styles.summary}>
          {`${counts.all} devices · ${counts.verified} verified now · ${counts.failing} failing · ${counts.stale} stale`}
          {rechecking && ` · ${counts.disagree} differ in browser`}
        </span>
      </div>
      {alert && (
        <div role="alert" className={styles.alert}>
          {alert}
        </div>
      )}
      <VirtualRows
        items={rows}
        rowHeight={ROW_HEIGHT}
        height={tableHeight}
        header={header}
        headerHeight={HEADER_HEIGHT}
        minWidth={minWidth}
        empty={<Message styles={styles} role="status" title="No device matches the filter" />}
        itemKey={(d) => d.device}
        renderRow={renderRow}
        onShown={onShown}
      />
    </div>
  );
}

/** The verified share as a bar and a number; 0 % is drawn as a failure, never like "no readings". */
function ShareBar({ styles, share, readings }: { styles: Styles; share: number; readings: number }) {
  const theme = useStyles2(getShareColors);
  const pct = Math.round(share * 1000) / 10;
  const color = share >= 0.99 ? theme.good : share >= 0.9 ? theme.warn : theme.bad;
  return (
    <span
      className={cx(styles.share, share === 0 && styles.shareZero)}
      data-share={share === 0 ? 'zero' : 'some'}
      title={`${pct} % of ${readings} reading(s) verified`}
    >
      <span className={styles.shareTrack} style={{ borderColor: color }}>
        <span className={styles.shareFill} style={{ width: `${pct}%`, background: color }} />
      </span>
      {`${pct} %`}
    </span>
  );
}

const getShareColors = (theme: GrafanaTheme2) => ({
  good: theme.colors.success.main,
  warn: theme.colors.warning.main,
  bad: theme.colors.error.main,
});
