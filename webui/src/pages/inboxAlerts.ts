// Sound and desktop notification for a customer's new message, off by default and remembered
// per browser, and for a new conversation in one of the user's queues (their "queued"
// preference); how (desktop, sound, never in do-not-disturb) follows their preferences.
// A conversation's notice says how many messages wait unread; a count that grows means the
// customer wrote (the attendant's own replies never raise it). Nothing is said for the
// conversation on screen, unless the tab is hidden.
import { type RefObject, useCallback, useEffect, useRef, useState } from "react";
import { attention } from "../api/notifications";
import { realtime } from "../api/realtime";
import type { Conversation, User } from "../api/types";
import { askDesktop, desktopAllowed, unlockSound } from "../lib/alerts";
import { translate } from "../lib/i18n";

const SETTING_KEY = "zapdesk.inbox.alerts";
// A conversation never seen in this tab counts as new only if its last message is this fresh.
const FRESH_MS = 30_000;
// A conversation is new in a queue when the change that announced it put it there: it has
// waited no longer than that change is old.
const JUST_QUEUED_MS = 2000;

function nameOf(c: Conversation): string {
  return c.contact?.display_name ?? `#${c.contact_id}`;
}

/** Whether the change a notice tells of put the conversation in one of the user's queues:
 * queued in a department of theirs, waiting since that change. */
function justQueued(c: Conversation, user: User): boolean {
  if (c.status !== "queued" || c.assignee_id !== null || c.department_id === null) return false;
  if (!user.department_ids?.includes(c.department_id) || !c.waiting_since) return false;
  return Date.parse(c.updated_at) - Date.parse(c.waiting_since) <= JUST_QUEUED_MS;
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
    // On the click: browsers let a page play sound after a gesture only.
    unlockSound();
    void askDesktop().then((granted) => setBlocked(!granted));
  }, [on]);
  useEffect(() => {
    if (on) setBlocked(!desktopAllowed());
  }, [on]);
  return { on, blocked, toggle };
}

/** Listens to the inbox and alerts on a customer's new message while the setting is on, and
 * on a new conversation in one of the user's queues as their preferences say ("queued"). */
export function useInboxAlerts(
  on: boolean,
  openId: number | null,
  shown: RefObject<Conversation[]>,
  user: User,
): void {
  const unread = useRef(new Map<number, number>());
  const queued = useRef(new Set<string>()); // told already: conversation and since when
  const open = useRef(openId);
  open.current = openId;
  useEffect(
    () =>
      realtime.listen("inbox", (notice) => {
        const c = notice.data as unknown as Conversation;
        if (typeof c.id !== "number" || typeof c.unread_count !== "number") return;
        const before = unread.current.get(c.id) ?? shown.current?.find((x) => x.id === c.id)?.unread_count;
        unread.current.set(c.id, c.unread_count);
        const since = `${c.id}:${c.waiting_since}`;
        if (justQueued(c, user) && !queued.current.has(since)) {
          queued.current.add(since);
          const path = `/inbox/${c.id}`;
          const title = translate("bell.queued", { name: nameOf(c) });
          if (attention(title, c.last_message_preview, `conversation-${c.id}`, path, "queued")) return;
        }
        const fresh = notice.type === "conversation.created" || Date.now() - Date.parse(c.last_message_at) < FRESH_MS;
        const grew = before === undefined ? c.unread_count > 0 && fresh : c.unread_count > before;
        if (!on || !grew) return;
        if (c.id === open.current && document.visibilityState === "visible") return;
        const title = translate("inbox.alerts.title", { name: nameOf(c) });
        const path = `/inbox/${c.id}${location.search}`;
        attention(title, c.last_message_preview, `conversation-${c.id}`, path);
      }),
    [on, shown, user],
  );
}
