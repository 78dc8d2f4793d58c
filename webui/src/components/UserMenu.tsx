// The signed-in user's name in the top bar opens a small menu: change my password.
import { useEffect, useRef, useState } from "react";
import type { User } from "../api/types";
import { useT } from "../lib/i18n";
import { ChangePassword } from "./ChangePassword";

export function UserMenu({ user }: { user: User }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  const [changing, setChanging] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!open) return undefined;
    box.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus();
    const away = (event: MouseEvent) => {
      if (!box.current?.contains(event.target as Node)) setOpen(false);
    };
    const key = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        setOpen(false);
        button.current?.focus();
      }
    };
    document.addEventListener("mousedown", away);
    document.addEventListener("keydown", key);
    return () => {
      document.removeEventListener("mousedown", away);
      document.removeEventListener("keydown", key);
    };
  }, [open]);

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
        aria-label={user.name}
        title={user.email}
        onClick={() => setOpen((was) => !was)}
      >
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
        </div>
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
