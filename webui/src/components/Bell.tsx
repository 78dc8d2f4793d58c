// The bell in the top bar: how many notifications are unread, and a panel with the newest
// (unread ones stand out); a click opens the conversation and marks it read. The panel also
// marks all read and opens the preferences.
import { useEffect, useRef, useState } from "react";
import { useNames } from "../api/directory";
import { describe, followBell, loadOlder, markAllRead, markRead, useBell } from "../api/notifications";
import type { Notification } from "../api/types";
import { ago, useT } from "../lib/i18n";
import { navigate } from "../lib/router";
import { messageOf } from "./Field";
import { NotificationPrefs } from "./NotificationPrefs";
import { useDismiss } from "./useDismiss";

export function Bell() {
  const t = useT();
  const bell = useBell();
  const names = useNames();
  const [open, setOpen] = useState(false);
  const [prefs, setPrefs] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const unread = bell?.unread ?? 0;

  useEffect(() => followBell(), []);

  useDismiss(open, box, button, () => setOpen(false));

  async function act(action: () => Promise<void>) {
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(messageOf(caught));
    }
  }

  function go(n: Notification) {
    setOpen(false);
    void act(() => markRead(n));
    if (n.conversation_id) navigate(`/inbox/${n.conversation_id}`);
  }

  return (
    <div className="bell" ref={box}>
      <button
        ref={button}
        type="button"
        className="ghost bell__button"
        aria-haspopup="dialog"
        aria-expanded={open}
        aria-label={unread > 0 ? t("bell.label_unread", { n: unread }) : t("bell.label")}
        title={t("bell.label")}
        data-testid="bell"
        onClick={() => setOpen((was) => !was)}
      >
        <BellIcon />
        {unread > 0 && (
          <span className="bell__count" aria-hidden="true" data-testid="bell-count">
            {unread > 99 ? "99+" : unread}
          </span>
        )}
      </button>
      {open && (
        <div className="bell__panel" role="dialog" aria-label={t("bell.label")}>
          <header className="bell__head">
            <strong>{t("bell.label")}</strong>
            <span className="spacer" />
            <button type="button" className="link small" disabled={unread === 0} onClick={() => void act(markAllRead)}>
              {t("bell.read_all")}
            </button>
            <button
              type="button"
              className="icon"
              aria-label={t("prefs.open")}
              title={t("prefs.open")}
              onClick={() => {
                setOpen(false);
                setPrefs(true);
              }}
            >
              <GearIcon />
            </button>
          </header>
          {error && (
            <p className="error small" role="alert">
              {t("bell.failed", { m: error })}
            </p>
          )}
          {bell && bell.items.length === 0 ? (
            <p className="muted small bell__empty">{t("bell.empty")}</p>
          ) : (
            <ul className="bell__list">
              {bell?.items.map((n) => {
                const { title, body } = describe(n, names.person(n.actor_user_id));
                return (
                  <li key={n.id}>
                    <button
                      type="button"
                      className={n.read_at ? "bell__item" : "bell__item is-unread"}
                      data-unread={n.read_at ? undefined : "true"}
                      onClick={() => go(n)}
                    >
                      <span className="bell__title">{title}</span>
                      {body && <span className="bell__body">{body}</span>}
                      <time className="bell__when muted" dateTime={n.created_at}>
                        {ago(n.created_at)}
                      </time>
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
          {bell?.before && (
            <button type="button" className="ghost small bell__older" onClick={() => void act(loadOlder)}>
              {t("bell.older")}
            </button>
          )}
        </div>
      )}
      {prefs && (
        <NotificationPrefs
          onClose={() => {
            setPrefs(false);
            window.setTimeout(() => button.current?.focus(), 0);
          }}
        />
      )}
    </div>
  );
}

function BellIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
      <path d="M12 3c-3.3 0-5.5 2.6-5.5 6v4L5 16.5h14L17.5 13V9c0-3.4-2.2-6-5.5-6z" />
      <path d="M10 19.5a2 2 0 0 0 4 0" />
    </svg>
  );
}

function GearIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
      <circle cx="12" cy="12" r="3" />
      <circle cx="12" cy="12" r="7.5" strokeDasharray="3 2.9" strokeWidth="3" />
    </svg>
  );
}
