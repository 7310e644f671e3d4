import * as React from 'react';

interface Props<T> {
  items: readonly T[];
  rowHeight: number;
  /** Height of the whole table, header included. */
  height: number;
  /** The header row: it stays on top when the rows scroll down, and moves with them sideways. */
  header: React.ReactNode;
  headerHeight: number;
  /** The table's least width (CSS): narrower panels scroll the header and rows sideways together. */
  minWidth: string;
  className?: string;
  /** Shown under the header when there is no row. */
  empty?: React.ReactNode;
  /** Rows rendered beyond each edge, so fast scrolling shows no gaps. */
  overscan?: number;
  itemKey: (item: T) => string;
  renderRow: (item: T, index: number) => React.ReactNode;
  /** Told which items are in the DOM (in view, with the overscan) whenever that changes. */
  onShown?: (shown: readonly T[]) => void;
}

/**
 * A table in one scroll container, with fixed-height rows of which only those in view are in the DOM, so
 * 2,000 devices stay smooth. The header is in the same container (sticky on top), so that on a narrow panel
 * it scrolls sideways with the rows.
 */
export function VirtualRows<T>({
  items,
  rowHeight,
  height,
  header,
  headerHeight,
  minWidth,
  className,
  empty,
  overscan = 6,
  itemKey,
  renderRow,
  onShown,
}: Props<T>): React.ReactElement {
  const [scrollTop, setScrollTop] = React.useState(0);
  const body = Math.max(rowHeight, height - headerHeight);
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(items.length, Math.ceil((scrollTop + body) / rowHeight) + overscan);
  React.useEffect(() => onShown?.(items.slice(first, last)), [items, first, last, onShown]);
  return (
    <div
      role="table"
      aria-rowcount={items.length + 1}
      className={className}
      style={{ height, overflow: 'auto', position: 'relative' }}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      <div style={{ minWidth }}>
        {header}
        {items.length === 0 ? (
          empty
        ) : (
          <div role="rowgroup" style={{ height: items.length * rowHeight, position: 'relative' }}>
            {items.slice(first, last).map((item, k) => (
              <div key={itemKey(item)} style={{ position: 'absolute', top: (first + k) * rowHeight, height: rowHeight, left: 0, right: 0 }}>
                {renderRow(item, first + k)}
              </div>
            ))}
          </div>
        )}
      </div>
    </div>
  );
}
