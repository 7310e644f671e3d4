import * as React from 'react';

interface Props<T> {
  items: readonly T[];
  rowHeight: number;
  height: number;
  /** Rows rendered beyond each edge, so fast scrolling shows no gaps. */
  overscan?: number;
  itemKey: (item: T) => string;
  renderRow: (item: T, index: number) => React.ReactNode;
}

/** A fixed-row-height window: only the rows in view are in the DOM, so 2,000 devices stay smooth. */
export function VirtualRows<T>({ items, rowHeight, height, overscan = 6, itemKey, renderRow }: Props<T>): React.ReactElement {
  const [scrollTop, setScrollTop] = React.useState(0);
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  return (
    <div
      role="rowgroup"
      style={{ height, overflowY: 'auto', position: 'relative' }}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      <div style={{ height: items.length * rowHeight, position: 'relative' }}>
        {items.slice(first, last).map((item, k) => (
          <div key={itemKey(item)} style={{ position: 'absolute', top: (first + k) * rowHeight, height: rowHeight, left: 0, right: 0 }}>
            {renderRow(item, first + k)}
          </div>
        ))}
      </div>
    </div>
  );
}
