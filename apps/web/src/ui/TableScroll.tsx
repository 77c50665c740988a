import type { ReactNode } from 'react';

/**
 * A table that may be wider than a phone's screen scrolls inside this region, named like its
 * table. The region takes focus (Tab), so a keyboard user can scroll it too (axe:
 * scrollable-region-focusable).
 */
export function TableScroll(props: { label?: string; labelledBy?: string; children: ReactNode }) {
  return (
    <div
      className="table-scroll"
      role="region"
      aria-label={props.label}
      aria-labelledby={props.labelledBy}
      tabIndex={0}
    >
      {props.children}
    </div>
  );
}
