// The bell: one's notifications (the newest page and the unread count) and preferences, read
// once per tab and kept live from the "me" topic. Each new one pops up on the desktop and
// chimes as the preferences say, unless do-not-disturb (``attention``, which the inbox's own
// alerts use too). The tab's title carries the unread count: "(3) zapdesk".
import { useSyncExternalStore } from "react";
import { chime, notifyDesktop, unlockSoundOnGesture } from "../lib/alerts";
import { translate, type Key } from "../lib/i18n";
import { api } from "./client";
import { Shared } from "./directory";
import { realtime } from "./realtime";
import type { Notification, Preferences } from "./types";

const PAGE = 20;

export const DEFAULT_PREFERENCES: Preferences = {
  queued: true,
  assigned: true,
  transferred: true,
  mentioned: true,
  sla: true,
  desktop: true,
  sound: true,
  dnd: false,
};

export type Bell = { items: Notification[]; unread: number; before: number | null };

const bell = new Shared<Bell>(async () => {
  const page = await api("get", "/api/v1/me/notifications", { query: { limit: PAGE } });
  return { items: page.items, unread: page.unread, before: page.next_before ?? null };
});
const preferences = new Shared<Preferences>(async () => ({
  ...DEFAULT_PREFERENCES,
  ...(await api("get", "/api/v1/me/preferences")),
}));

function titled(): void {
  const unread = bell.get()?.unread ?? 0;
  const name = translate("app.name");
  document.title = unread > 0 ? `(${unread}) ${name}` : name;
}
bell.subscribe(titled);

/** The preferences as known now (the defaults until read). */
function wanted(): Preferences {
  return preferences.get() ?? DEFAULT_PREFERENCES;
}

/** Pops up and chimes as the preferences say: not for a ``kind`` switched off, nothing in
 * do-not-disturb. Answers whether the person wanted to hear of it. */
export function attention(title: string, body: string, tag: string, path: string, kind?: keyof Preferences): boolean {
  const how = wanted();
  if (how.dnd || (kind && !how[kind])) return false;
  if (how.desktop) notifyDesktop(title, body, tag, path);
  if (how.sound) chime();
  return true;
}

const SWITCH: Record<string, keyof Preferences> = {
  assigned: "assigned",
  transferred: "transferred",
  mentioned: "mentioned",
  sla_at_risk: "sla",
  sla_breached: "sla",
};

const SAYS: Record<string, Key> = {
  assigned: "bell.assigned",
  transferred: "bell.transferred",
  mentioned: "bell.mentioned",
  sla_at_risk: "bell.sla_at_risk",
  sla_breached: "bell.sla_breached",
};

/** What a notification says: a title and a line under it. ``actor``: who did it, if known. */
export function describe(n: Notification, actor: string | null): { title: string; body: string } {
  const data = n.data ?? {};
  const name = typeof data.contact_name === "string" ? data.contact_name : `#${n.conversation_id ?? "?"}`;
  const key = SAYS[n.kind] ?? "bell.other";
  const who = actor ?? translate("bell.someone");
  const title = translate(key, { name, actor: who });
  const excerpt = typeof data.excerpt === "string" ? data.excerpt : "";
  const body = n.kind === "mentioned" ? excerpt : actor ? translate("bell.by", { actor }) : "";
  return { title, body };
}

function arrived(n: Notification): void {
  bell.update((b) =>
    b.items.some((x) => x.id === n.id)
      ? b
      : { ...b, items: [n, ...b.items], unread: b.unread + (n.read_at ? 0 : 1) },
  );
  const { title, body } = describe(n, null);
  const path = n.conversation_id ? `/inbox/${n.conversation_id}` : "/inbox";
  attention(title, body, `notification-${n.id}`, path, SWITCH[n.kind]);
}

/** Follows the signed-in user's bell while the shell shows it; answers the stop. */
export function followBell(): () => void {
  const stopMe = realtime.listen(
    "me",
    (notice) => {
      if (notice.type === "resync") void bell.load();
      else if (notice.type === "notification.created") arrived(notice.data as unknown as Notification);
    },
    // Followed from now on: what came before is in a fresh read.
    () => {
      void bell.load();
      void preferences.load();
    },
  );
  const stopUnlock = unlockSoundOnGesture();
  // Another tab may have read some meanwhile.
  const again = () => document.visibilityState === "visible" && void bell.load();
  document.addEventListener("visibilitychange", again);
  return () => {
    stopMe();
    stopUnlock();
    document.removeEventListener("visibilitychange", again);
    bell.reset();
    preferences.reset();
    titled();
  };
}

export function useBell(): Bell | null {
  return useSyncExternalStore(bell.subscribe, bell.get);
}

export function usePreferences(): Preferences | null {
  return useSyncExternalStore(preferences.subscribe, preferences.get);
}

/** Older ones, below those shown. */
export async function loadOlder(): Promise<void> {
  const before = bell.get()?.before;
  if (!before) return;
  const page = await api("get", "/api/v1/me/notifications", { query: { limit: PAGE, before } });
  bell.update((b) => ({
    items: [...b.items, ...page.items.filter((n) => !b.items.some((x) => x.id === n.id))],
    unread: page.unread,
    before: page.next_before ?? null,
  }));
}

export async function markRead(n: Notification): Promise<void> {
  if (n.read_at) return;
  const read = await api("post", "/api/v1/me/notifications/{id}/read", { params: { id: n.id } });
  bell.update((b) => ({
    ...b,
    items: b.items.map((x) => (x.id === read.id ? read : x)),
    unread: Math.max(0, b.unread - (b.items.some((x) => x.id === read.id && !x.read_at) ? 1 : 0)),
  }));
}

export async function markAllRead(): Promise<void> {
  await api("post", "/api/v1/me/notifications/read");
  const now = new Date().toISOString();
  bell.update((b) => ({ ...b, unread: 0, items: b.items.map((x) => (x.read_at ? x : { ...x, read_at: now })) }));
}

/** Flips switches at once on screen, then saves them (a refusal puts back what is stored). */
export async function savePreferences(change: Partial<Preferences>): Promise<void> {
  preferences.set({ ...wanted(), ...change });
  try {
    preferences.set({ ...DEFAULT_PREFERENCES, ...(await api("put", "/api/v1/me/preferences", { body: change })) });
  } catch (caught) {
    void preferences.load();
    throw caught;
  }
}
