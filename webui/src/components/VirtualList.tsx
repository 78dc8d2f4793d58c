// A virtualized list of fixed-height rows: only the rows in view (plus a margin) are in the
// DOM, so thousands of conversations scroll as lightly as ten. Near the end it asks for more.
import { type ReactNode, useLayoutEffect, useRef, useState } from "react";

type Props<T> = {
  items: T[];
  rowHeight: number;
  render: (item: T, index: number) => ReactNode;
  keyOf: (item: T) => string | number;
  onEndReached?: () => void;
  label: string;
};

const OVERSCAN = 6;

export function VirtualList<T>({ items, rowHeight, render, keyOf, onEndReached, label }: Props<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);

  useLayoutEffect(() => {
    const element = box.current;
    if (!element) return undefined;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    setHeight(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / rowHeight) + OVERSCAN);
  const endReached = useRef(onEndReached);
  endReached.current = onEndReached;

  useLayoutEffect(() => {
    if (last >= items.length - OVERSCAN) endReached.current?.();
  }, [last, items.length]);

  return (
    <div
      ref={box}
      className="vlist"
      role="list"
      aria-label={label}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      <div style={{ height: items.length * rowHeight, position: "relative" }}>
        {items.slice(first, last).map((item, offset) => (
          <div
            key={keyOf(item)}
            role="listitem"
            className="vlist__row"
            style={{ top: (first + offset) * rowHeight, height: rowHeight }}
          >
            {render(item, first + offset)}
          </div>
        ))}
      </div>
    </div>
  );
}
