// The inbox's filters live in the URL query (?tab=queued&department=2&tag=4&unread=1…), so a reload
// or a shared link shows the same list. The same filters decide whether a live update belongs
// to the list, so what the API would not answer never appears by the back door.
//
// Tabs: *Meus* (open and pending, assigned to me), *Fila* (queued, per department), *Bot* and,
// for supervisors and admins, *Todos* (any status; a status choice narrows it, resolved too).
import type { Conversation, ConversationStatus, Paths, User } from "../api/types";
import type { Key } from "../lib/i18n";

export type Tab = "mine" | "queued" | "bot" | "all";
export type Assignee = "me" | "none" | number | null;
export type StatusChoice = "bot" | "queued" | "open" | "pending" | "resolved";

type TabInfo = { tab: Tab; label: Key; statuses: ConversationStatus[]; staff?: true };

export const TABS: TabInfo[] = [
  { tab: "mine", label: "tab.mine", statuses: ["open", "pending"] },
  { tab: "queued", label: "tab.queue", statuses: ["queued"] },
  { tab: "bot", label: "tab.bot", statuses: ["bot"] },
  { tab: "all", label: "tab.all", statuses: [], staff: true },
];

export const STATUS_CHOICES: { choice: StatusChoice; label: Key; statuses: ConversationStatus[] }[] = [
  { choice: "bot", label: "status.bot", statuses: ["bot"] },
  { choice: "queued", label: "status.queued", statuses: ["queued"] },
  { choice: "open", label: "status.open", statuses: ["open"] },
  { choice: "pending", label: "status.pending", statuses: ["pending"] },
  { choice: "resolved", label: "status.resolved_or_closed", statuses: ["resolved", "closed"] },
];

export type Filters = {
  tab: Tab;
  q: string;
  department: number | null;
  assignee: Assignee; // only in "all"
  status: StatusChoice | null; // only in "all"
  channel: number | null;
  tag: number | null;
  unread: boolean;
};

type ListQuery = NonNullable<Paths["/api/v1/conversations"]["get"]["parameters"]["query"]>;

export function isStaff(me: User): boolean {
  return me.role === "admin" || me.role === "supervisor";
}

/** The tabs this user has: *Todos* is for supervisors and admins. */
export function tabsFor(me: User): TabInfo[] {
  return TABS.filter((x) => !x.staff || isStaff(me));
}

/** Where the inbox opens: supervisors and admins oversee everything, attendants their own. */
export function defaultTab(me: User): Tab {
  return isStaff(me) ? "all" : "mine";
}

function id(text: string | null): number | null {
  const value = Number(text);
  return Number.isInteger(value) && value > 0 ? value : null;
}

export function parseFilters(search: string, me: User): Filters {
  const params = new URLSearchParams(search);
  const asked = params.get("tab");
  const tab = tabsFor(me).find((x) => x.tab === asked)?.tab ?? defaultTab(me);
  const assignee = params.get("assignee");
  const status = params.get("status");
  const overseeing = tab === "all";
  return {
    tab,
    q: params.get("q")?.trim() ?? "",
    department: id(params.get("department")),
    assignee: !overseeing ? null : assignee === "me" || assignee === "none" ? assignee : id(assignee),
    status: overseeing ? (STATUS_CHOICES.find((x) => x.choice === status)?.choice ?? null) : null,
    channel: id(params.get("channel")),
    tag: id(params.get("tag")),
    unread: params.get("unread") === "1",
  };
}

/** The query string for these filters ("" when none is set), defaults left out. */
export function searchOf(filters: Filters, me: User): string {
  const params = new URLSearchParams();
  if (filters.tab !== defaultTab(me)) params.set("tab", filters.tab);
  if (filters.q) params.set("q", filters.q);
  if (filters.department) params.set("department", String(filters.department));
  if (filters.tab === "all" && filters.assignee !== null) params.set("assignee", String(filters.assignee));
  if (filters.tab === "all" && filters.status) params.set("status", filters.status);
  if (filters.channel) params.set("channel", String(filters.channel));
  if (filters.tag) params.set("tag", String(filters.tag));
  if (filters.unread) params.set("unread", "1");
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function statusesOf(filters: Filters): ConversationStatus[] {
  if (filters.tab === "all") return STATUS_CHOICES.find((x) => x.choice === filters.status)?.statuses ?? [];
  return TABS.find((x) => x.tab === filters.tab)?.statuses ?? [];
}

/** Who the list is narrowed to: "me" in *Meus*, the choice in *Todos*, anyone elsewhere. */
function assigneeOf(filters: Filters): Assignee {
  if (filters.tab === "mine") return "me";
  return filters.tab === "all" ? filters.assignee : null;
}

/** The API's query parameters for these filters (GET /api/v1/conversations). */
export function listQuery(filters: Filters): ListQuery {
  const statuses = statusesOf(filters);
  const assignee = assigneeOf(filters);
  return {
    ...(statuses.length ? { status: statuses } : {}),
    ...(filters.q ? { q: filters.q } : {}),
    ...(filters.department ? { department_id: filters.department } : {}),
    ...(assignee === "me" || assignee === "none" ? { assignee } : {}),
    ...(typeof assignee === "number" ? { assignee_id: assignee } : {}),
    ...(filters.channel ? { channel_id: filters.channel } : {}),
    ...(filters.tag ? { tag_id: filters.tag } : {}),
    ...(filters.unread ? { unread: true } : {}),
  };
}

/** Whether the user may see the conversation (core's rule: admins everything; others their
 * departments, what is assigned to them, and what has no department yet). A conversation that
 * moved out of their sight is announced to them once, so their list lets it go. */
export function visible(c: Conversation, me: User): boolean {
  if (me.role === "admin" || c.assignee_id === me.id || c.department_id === null) return true;
  return (me.department_ids ?? []).includes(c.department_id);
}

/** Whether a conversation belongs to the list (the words searched are the server's to judge). */
export function matches(c: Conversation, filters: Filters, me: User): boolean {
  if (!visible(c, me)) return false;
  const statuses = statusesOf(filters);
  if (statuses.length && !statuses.includes(c.status)) return false;
  if (filters.department && c.department_id !== filters.department) return false;
  if (filters.channel && c.channel_id !== filters.channel) return false;
  if (filters.tag && !(c.tag_ids ?? []).includes(filters.tag)) return false;
  if (filters.unread && c.unread_count === 0) return false;
  const assignee = assigneeOf(filters);
  if (assignee === "me") return c.assignee_id === me.id;
  if (assignee === "none") return c.assignee_id === null;
  if (typeof assignee === "number") return c.assignee_id === assignee;
  return true;
}

/** Whether a filter beyond the tab is set (the bar then offers to clear them). */
export function filtering(filters: Filters): boolean {
  return Boolean(
    filters.department ||
      filters.assignee !== null ||
      filters.status ||
      filters.channel ||
      filters.tag ||
      filters.unread,
  );
}
