// The inbox's filters live in the URL query (?tab=open&unread=1&channel=3…), so a reload or a
// shared link shows the same list. The same filters decide whether a live update belongs to
// the list, so what the API would not answer never appears by the back door.
import type { Conversation, ConversationStatus, Paths, User } from "../api/types";
import type { Key } from "../lib/i18n";

export type Tab = "all" | "open" | "queued" | "pending" | "resolved";
export type Assignee = "me" | "none" | number | null;

export const TABS: { tab: Tab; label: Key; statuses: ConversationStatus[] }[] = [
  { tab: "all", label: "tab.all", statuses: [] },
  { tab: "open", label: "tab.open", statuses: ["open"] },
  { tab: "queued", label: "tab.queued", statuses: ["bot", "queued"] },
  { tab: "pending", label: "tab.pending", statuses: ["pending"] },
  { tab: "resolved", label: "tab.resolved", statuses: ["resolved", "closed"] },
];

export type Filters = {
  tab: Tab;
  q: string;
  department: number | null;
  assignee: Assignee;
  channel: number | null;
  unread: boolean;
};

type ListQuery = NonNullable<Paths["/api/v1/conversations"]["get"]["parameters"]["query"]>;

function id(text: string | null): number | null {
  const value = Number(text);
  return Number.isInteger(value) && value > 0 ? value : null;
}

export function parseFilters(search: string): Filters {
  const params = new URLSearchParams(search);
  const tab = params.get("tab");
  const assignee = params.get("assignee");
  return {
    tab: TABS.some((x) => x.tab === tab) ? (tab as Tab) : "all",
    q: params.get("q")?.trim() ?? "",
    department: id(params.get("department")),
    assignee: assignee === "me" || assignee === "none" ? assignee : id(assignee),
    channel: id(params.get("channel")),
    unread: params.get("unread") === "1",
  };
}

/** The query string for these filters ("" when none is set), defaults left out. */
export function searchOf(filters: Filters): string {
  const params = new URLSearchParams();
  if (filters.tab !== "all") params.set("tab", filters.tab);
  if (filters.q) params.set("q", filters.q);
  if (filters.department) params.set("department", String(filters.department));
  if (filters.assignee !== null) params.set("assignee", String(filters.assignee));
  if (filters.channel) params.set("channel", String(filters.channel));
  if (filters.unread) params.set("unread", "1");
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function statusesOf(tab: Tab): ConversationStatus[] {
  return TABS.find((x) => x.tab === tab)?.statuses ?? [];
}

/** The API's query parameters for these filters (GET /api/v1/conversations). */
export function listQuery(filters: Filters): ListQuery {
  const statuses = statusesOf(filters.tab);
  const { assignee } = filters;
  return {
    ...(statuses.length ? { status: statuses } : {}),
    ...(filters.q ? { q: filters.q } : {}),
    ...(filters.department ? { department_id: filters.department } : {}),
    ...(assignee === "me" || assignee === "none" ? { assignee } : {}),
    ...(typeof assignee === "number" ? { assignee_id: assignee } : {}),
    ...(filters.channel ? { channel_id: filters.channel } : {}),
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
  const statuses = statusesOf(filters.tab);
  if (statuses.length && !statuses.includes(c.status)) return false;
  if (filters.department && c.department_id !== filters.department) return false;
  if (filters.channel && c.channel_id !== filters.channel) return false;
  if (filters.unread && c.unread_count === 0) return false;
  if (filters.assignee === "me") return c.assignee_id === me.id;
  if (filters.assignee === "none") return c.assignee_id === null;
  if (typeof filters.assignee === "number") return c.assignee_id === filters.assignee;
  return true;
}

export function filtering(filters: Filters): boolean {
  return Boolean(filters.department || filters.assignee !== null || filters.channel || filters.unread);
}
