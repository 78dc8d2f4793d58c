// The signed-in user's name in the top bar, with their presence dot, opens a small menu:
// online or away (auto-assignment skips the away), change my password. The dot follows the
// "presence" topic, so a change made in another tab shows here too.
import { useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import { setMyPresence, useTeam } from "../api/directory";
import type { Presence, User } from "../api/types";
import { useT } from "../lib/i18n";
import { ChangePassword } from "./ChangePassword";
import { PresenceDot } from "./DeskBadges";
import { messageOf } from "./Field";
import { useDismiss } from "./useDismiss";

const CHOICES: { status: "online" | "away"; label: "presence.online" | "presence.away" }[] = [
  { status: "online", label: "presence.online" },
  { status: "away", label: "presence.away" },
];

export function UserMenu({ user }: { user: User }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  const [changing, setChanging] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const team = useTeam();
  const status: Presence | null = team?.find((m) => m.id === user.id)?.status ?? null;

  async function choose(next: "online" | "away") {
    setError(null);
    try {
      const answer = await api("put", "/api/v1/presence", { body: { status: next } });
      setMyPresence(answer.user_id, answer.status);
    } catch (caught) {
      setError(messageOf(caught));
    }
  }

  useEffect(() => {
    if (open) box.current?.querySelector<HTMLElement>('[role^="menuitem"]')?.focus();
  }, [open]);
  useDismiss(open, box, button, () => setOpen(false), (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    // Arrows move between the menu's items, as in any menu.
    const items = [...(box.current?.querySelectorAll<HTMLElement>('[role^="menuitem"]') ?? [])];
    if (items.length === 0) return;
    event.preventDefault();
    const at = items.indexOf(document.activeElement as HTMLElement);
    const step = event.key === "ArrowDown" ? 1 : -1;
    items[(at + step + items.length) % items.length]?.focus();
  });

  useEffect(() => {
    if (!notice) return undefined;
    const timer = window.setTimeout(() => setNotice(null), 6000);
    return () => window.clearTimeout(timer);
  }, [notice]);

  return (
    <div
      className="profile-menu"
      ref={box}
      onBlur={(event) => {
        // Tabbing out of the open menu closes it, as a click elsewhere does.
        if (open && !box.current?.contains(event.relatedTarget as Node | null)) setOpen(false);
      }}
    >
      <button
        ref={button}
        type="button"
        className="ghost profile-menu__button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={status ? `${user.name} (${t(`presence.${status}`)})` : user.name}
        title={user.email}
        onClick={() => setOpen((was) => !was)}
      >
        {status && <PresenceDot status={status} labelled={false} />}
        <span className="wide-only">{user.name}</span>
        <span className="narrow-only profile-menu__initial" aria-hidden="true">
          {user.name.slice(0, 1).toUpperCase()}
        </span>
        <span aria-hidden="true"> ▾</span>
      </button>
      {open && (
        <div className="profile-menu__list" role="menu" aria-label={user.name}>
          <p className="profile-menu__email muted small">{user.email}</p>
          <button
            type="button"
            role="menuitem"
            className="ghost"
            onClick={() => {
              setOpen(false);
              setChanging(true);
            }}
          >
            {t("profile.change_password")}
          </button>
          <div role="group" aria-label={t("presence.label")} className="profile-menu__group">
            <span className="profile-menu__label muted small" aria-hidden="true">
              {t("presence.label")}
            </span>
            {CHOICES.map((choice) => (
              <button
                key={choice.status}
                type="button"
                role="menuitemradio"
                aria-checked={status === choice.status}
                className="ghost"
                onClick={() => {
                  setOpen(false);
                  button.current?.focus();
                  void choose(choice.status);
                }}
              >
                <PresenceDot status={choice.status} labelled={false} /> {t(choice.label)}
              </button>
            ))}
          </div>
        </div>
      )}
      {error && (
        <p className="profile-menu__notice error" role="alert">
          {t("presence.failed", { m: error })}
        </p>
      )}
      {notice && (
        <p className="profile-menu__notice success" role="status">
          {notice}
        </p>
      )}
      {changing && (
        <ChangePassword
          onClose={() => {
            setChanging(false);
            // The menu item that opened the dialog is gone: the focus goes back to the name.
            window.setTimeout(() => button.current?.focus(), 0);
          }}
          onChanged={() => {
            setChanging(false);
            setNotice(t("profile.password_changed"));
            window.setTimeout(() => button.current?.focus(), 0);
          }}
        />
      )}
    </div>
  );
}
