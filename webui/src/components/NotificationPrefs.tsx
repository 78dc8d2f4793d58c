// One's notification preferences: which kinds to hear about, and how (desktop, sound), or
// not at all for now (do-not-disturb). Each switch is saved as it is flipped; turning the
// desktop notifications on asks the browser's permission.
import { useState } from "react";
import { DEFAULT_PREFERENCES, savePreferences, usePreferences } from "../api/notifications";
import type { Preferences } from "../api/types";
import { askDesktop, desktopAllowed, unlockSound } from "../lib/alerts";
import { type Key, useT } from "../lib/i18n";
import { Dialog } from "./Dialog";
import { messageOf } from "./Field";

const KINDS: [keyof Preferences, Key][] = [
  ["queued", "prefs.queued"],
  ["assigned", "prefs.assigned"],
  ["transferred", "prefs.transferred"],
  ["mentioned", "prefs.mentioned"],
  ["sla", "prefs.sla"],
];
const HOW: [keyof Preferences, Key][] = [
  ["desktop", "prefs.desktop"],
  ["sound", "prefs.sound"],
  ["dnd", "prefs.dnd"],
];

export function NotificationPrefs({ onClose }: { onClose: () => void }) {
  const t = useT();
  const stored = usePreferences() ?? DEFAULT_PREFERENCES;
  const [error, setError] = useState<string | null>(null);
  const [blocked, setBlocked] = useState(() => stored.desktop && "Notification" in window && !desktopAllowed());

  async function flip(name: keyof Preferences, on: boolean) {
    setError(null);
    // On the click itself: the browser asks, and lets the page play sound, after a gesture only.
    if (name === "sound" && on) unlockSound();
    const asking = name === "desktop" && on ? askDesktop() : null;
    try {
      await savePreferences({ [name]: on });
    } catch (caught) {
      setError(messageOf(caught));
    }
    if (asking) setBlocked(!(await asking));
    else if (name === "desktop") setBlocked(false);
  }

  const toggle = ([name, label]: [keyof Preferences, Key]) => (
    <label key={name} className="check">
      <input
        type="checkbox"
        role="switch"
        checked={stored[name]}
        onChange={(event) => void flip(name, event.target.checked)}
      />
      {t(label)}
    </label>
  );

  return (
    <Dialog title={t("prefs.open")} onClose={onClose} testId="notification-prefs">
      <fieldset className="prefs">
        <legend>{t("prefs.kinds")}</legend>
        {KINDS.map(toggle)}
      </fieldset>
      <fieldset className="prefs">
        <legend>{t("prefs.how")}</legend>
        {HOW.map(toggle)}
        {blocked && <p className="warning small">{t("prefs.blocked")}</p>}
        <p className="muted small">{t("prefs.dnd_hint")}</p>
      </fieldset>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="button" className="primary" onClick={onClose}>
          {t("common.close")}
        </button>
      </div>
    </Dialog>
  );
}
