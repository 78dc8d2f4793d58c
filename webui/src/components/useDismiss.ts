// A menu or panel that opens under its button: while open, a press outside it or Esc closes
// it (Esc gives the focus back to the button); other keys go to ``onKey``.
import { type RefObject, useEffect, useRef } from "react";

export function useDismiss(
  open: boolean,
  box: RefObject<HTMLElement | null>,
  button: RefObject<HTMLElement | null>,
  close: () => void,
  onKey?: (event: KeyboardEvent) => void,
): void {
  const latest = useRef({ close, onKey });
  latest.current = { close, onKey };
  useEffect(() => {
    if (!open) return undefined;
    const away = (event: MouseEvent) => {
      if (!box.current?.contains(event.target as Node)) latest.current.close();
    };
    const key = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        latest.current.close();
        button.current?.focus();
      } else {
        latest.current.onKey?.(event);
      }
    };
    document.addEventListener("mousedown", away);
    document.addEventListener("keydown", key);
    return () => {
      document.removeEventListener("mousedown", away);
      document.removeEventListener("keydown", key);
    };
  }, [open, box, button]);
}
