// A modal dialog: focus moves in and stays in (Tab cycles), Esc closes, focus returns after.
import { type ReactNode, useEffect, useRef } from "react";
import { useT } from "../lib/i18n";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

type Props = { title: string; onClose: () => void; children: ReactNode; testId?: string };

export function Dialog({ title, onClose, children, testId }: Props) {
  const t = useT();
  const box = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  close.current = onClose;

  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    // The first field when there is one (what the user came to fill), else the first button.
    const first =
      box.current?.querySelector<HTMLElement>("input:not([hidden]), textarea, select") ??
      box.current?.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? box.current)?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close.current();
        return;
      }
      if (event.key !== "Tab" || !box.current) return;
      const items = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
      if (items.length === 0) return;
      const head = items[0];
      const tail = items[items.length - 1];
      if (event.shiftKey && document.activeElement === head) {
        event.preventDefault();
        tail?.focus();
      } else if (!event.shiftKey && document.activeElement === tail) {
        event.preventDefault();
        head?.focus();
      } else if (!box.current.contains(document.activeElement)) {
        event.preventDefault();
        head?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      before?.focus();
    };
  }, []);

  return (
    <div className="backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={box}
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-label={title}
        tabIndex={-1}
        data-testid={testId}
      >
        <header className="dialog__head">
          <h2>{title}</h2>
          <button type="button" className="icon" onClick={onClose} aria-label={t("common.close")}>
            ×
          </button>
        </header>
        {children}
      </div>
    </div>
  );
}

type ConfirmProps = { text: string; action: string; danger?: boolean; onConfirm: () => void; onClose: () => void };

export function Confirm({ text, action, danger = false, onConfirm, onClose }: ConfirmProps) {
  const t = useT();
  return (
    <Dialog title={action} onClose={onClose} testId="confirm">
      <p>{text}</p>
      <div className="actions">
        <button type="button" onClick={onClose}>
          {t("common.cancel")}
        </button>
        <button
          type="button"
          className={danger ? "danger" : "primary"}
          onClick={() => {
            onConfirm();
            onClose();
          }}
        >
          {action}
        </button>
      </div>
    </Dialog>
  );
}

type FormEndProps = { error: string | null; busy: boolean; submit: string; onCancel: () => void };

/** The end of a dialog's form: the error that is not about one field, Cancel and submit. */
export function FormEnd({ error, busy, submit, onCancel }: FormEndProps) {
  const t = useT();
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={onCancel}>
          {t("common.cancel")}
        </button>
        <button type="submit" className="primary" disabled={busy}>
          {submit}
        </button>
      </div>
    </>
  );
}
