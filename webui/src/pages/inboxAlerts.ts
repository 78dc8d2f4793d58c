// Sound and desktop notification for a customer's new message, off by default and remembered
// per browser. A conversation's notice says how many messages wait unread; a count that grows
// means the customer wrote (the attendant's own replies never raise it). Nothing is said for
// the conversation on screen, unless the tab is hidden.
import { type RefObject, useCallback, useEffect, useRef, useState } from "react";
import { realtime } from "../api/realtime";
import type { Conversation } from "../api/types";
import { translate } from "../lib/i18n";
import { navigate } from "../lib/router";

const SETTING_KEY = "zapdesk.inbox.alerts";
// A conversation never seen in this tab counts as new only if its last message is this fresh.
const FRESH_MS = 30_000;

let audio: AudioContext | null = null;

/** A short two-note chime, synthesized (no audio file to load). */
function chime(): void {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime;
  const tone = audio.createOscillator();
  const volume = audio.createGain();
  tone.type = "sine";
  tone.frequency.setValueAtTime(880, start);
  tone.frequency.setValueAtTime(1320, start + 0.1);
  volume.gain.setValueAtTime(0.0001, start);
  volume.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
  volume.gain.exponentialRampToValueAtTime(0.0001, start + 0.3);
  tone.connect(volume).connect(audio.destination);
  tone.start(start);
  tone.stop(start + 0.32);
}

function notifyDesktop(c: Conversation): void {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const who = c.contact?.display_name ?? `#${c.contact_id}`;
  const note = new Notification(translate("inbox.alerts.title", { name: who }), {
    body: c.last_message_preview,
    tag: `conversation-${c.id}`,
  });
  note.onclick = () => {
    window.focus();
    navigate(`/inbox/${c.id}${location.search}`);
    note.close();
  };
}

/** The setting: on or off, and the switch (which asks for the permission when turned on). */
export function useAlertsSetting(): { on: boolean; blocked: boolean; toggle: () => void } {
  const [on, setOn] = useState(() => localStorage.getItem(SETTING_KEY) === "on");
  const [blocked, setBlocked] = useState(false);
  const toggle = useCallback(() => {
    const next = !on;
    setOn(next);
    localStorage.setItem(SETTING_KEY, next ? "on" : "off");
    if (!next) return;
    // Created on the click: browsers let a page play sound after a gesture only.
    audio ??= new AudioContext();
    void audio.resume();
    if (!("Notification" in window)) {
      setBlocked(true);
      return;
    }
    void Promise.resolve(
      Notification.permission === "default" ? Notification.requestPermission() : Notification.permission,
    ).then((permission) => setBlocked(permission !== "granted"));
  }, [on]);
  useEffect(() => {
    if (!on) return;
    if ("Notification" in window) setBlocked(Notification.permission !== "granted");
    // Turned on in an earlier visit: the sound can start at the first click on the page.
    const unlock = () => {
      audio ??= new AudioContext();
      void audio.resume();
    };
    document.addEventListener("pointerdown", unlock, { once: true });
    return () => document.removeEventListener("pointerdown", unlock);
  }, [on]);
  return { on, blocked, toggle };
}

/** Listens to the inbox and alerts on a customer's new message while the setting is on. */
export function useInboxAlerts(
  on: boolean,
  openId: number | null,
  shown: RefObject<Conversation[]>,
): void {
  const unread = useRef(new Map<number, number>());
  const open = useRef(openId);
  open.current = openId;
  useEffect(
    () =>
      realtime.listen("inbox", (notice) => {
        const c = notice.data as unknown as Conversation;
        if (typeof c.id !== "number" || typeof c.unread_count !== "number") return;
        const before = unread.current.get(c.id) ?? shown.current?.find((x) => x.id === c.id)?.unread_count;
        unread.current.set(c.id, c.unread_count);
        const fresh = notice.type === "conversation.created" || Date.now() - Date.parse(c.last_message_at) < FRESH_MS;
        const grew = before === undefined ? c.unread_count > 0 && fresh : c.unread_count > before;
        if (!on || !grew) return;
        if (c.id === open.current && document.visibilityState === "visible") return;
        notifyDesktop(c);
        chime();
      }),
    [on, shown],
  );
}
