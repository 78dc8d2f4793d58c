// A conversation's transitions as the chat shows them: one system line each ("Ana assumiu",
// "Transferida para Financeiro por Ana", "Reaberta pelo cliente"), placed among the messages by
// time. Core writes the audit lines (kind, actor, reason, from → to); here they become words.
import type { Audit, Message } from "../api/types";
import { translate, type Key } from "../lib/i18n";

export type Names = {
  department: (id: number | null | undefined) => string | null;
  person: (id: number | null | undefined) => string | null;
};

export type Line = { text: string; note: string | null };

function capital(text: string): string {
  return text.charAt(0).toLocaleUpperCase() + text.slice(1);
}

/** Who did it, in words: a person by name (when this user may know it), the customer, the bot. */
function actorOf(event: Audit, names: Names): string {
  if (event.actor_type === "contact") return translate("timeline.customer");
  if (event.actor_type === "bot") return translate("timeline.bot");
  if (event.actor_type === "system") return translate("timeline.system");
  return names.person(event.actor_user_id) ?? translate("timeline.someone");
}

function say(key: Key, vars: Record<string, string> = {}): string {
  return capital(translate(key, vars));
}

export function lineOf(event: Audit, names: Names): Line | null {
  const actor = actorOf(event, names);
  const by = event.actor_type === "user";
  const department = names.department(event.to_department_id) ?? translate("timeline.a_department");
  const person = names.person(event.to_assignee_id) ?? translate("timeline.someone");
  const reason = event.reason ?? "";
  const note = event.note?.trim() || null;
  switch (event.kind) {
    case "created":
      if (event.to_status === "queued") return { text: say("timeline.queued_in", { department }), note };
      if (event.to_status === "bot") return { text: say("timeline.started_bot"), note };
      return { text: say("timeline.started"), note };
    case "assigned":
      if (reason === "claimed") return { text: say("timeline.claimed", { actor }), note };
      if (reason === "answered") return { text: say("timeline.answered", { actor }), note };
      if (reason.startsWith("auto-assigned")) return { text: say("timeline.auto_assigned", { person }), note };
      if (reason.startsWith("reopened")) return { text: say("timeline.returned", { person }), note };
      if (by && event.actor_user_id !== event.to_assignee_id) {
        return { text: say("timeline.assigned_by", { actor, person }), note };
      }
      return { text: say("timeline.assigned", { person }), note };
    case "unassigned":
      return {
        text: by ? say("timeline.unassigned_by", { actor, department }) : say("timeline.unassigned", { department }),
        note,
      };
    case "transferred": {
      const moved = event.to_department_id !== event.from_department_id || event.to_assignee_id === null;
      const to = [moved ? department : null, event.to_assignee_id !== null ? person : null]
        .filter(Boolean)
        .join(" · ");
      return { text: say("timeline.transferred", { to, actor }), note };
    }
    case "status_changed":
      if (reason.startsWith("reopened")) return { text: say("timeline.reopened"), note };
      switch (event.to_status) {
        case "queued":
          return { text: say("timeline.queued_in", { department }), note };
        case "open":
          return {
            text: event.from_status === "pending" ? say("timeline.customer_answered") : say("timeline.opened"),
            note,
          };
        case "pending":
          return { text: by ? say("timeline.pending_by", { actor }) : say("timeline.pending"), note };
        case "resolved":
          return { text: by ? say("timeline.resolved_by", { actor }) : say("timeline.resolved"), note };
        case "closed":
          return { text: say("timeline.closed"), note };
        case "bot":
          return { text: say("timeline.to_bot"), note };
        default:
          return null;
      }
    case "rated": {
      const rating = Number(event.data?.rating);
      if (reason === "commented") return { text: say("timeline.commented"), note };
      return { text: rating ? say("timeline.rated_n", { n: String(rating) }) : say("timeline.rated"), note };
    }
    case "sla_breached":
      return { text: say(event.data?.kind === "first" ? "timeline.sla_first" : "timeline.sla_next"), note };
    default:
      return null;
  }
}

export type Item = { kind: "message"; at: string; message: Message } | { kind: "event"; at: string; event: Audit };

/** Messages and transitions in time order. Transitions older than the oldest message loaded
 * wait until the history above is loaded too (``complete``), so none shows out of place. */
export function interleave(messages: Message[], events: Audit[], complete: boolean): Item[] {
  const first = messages[0] ? Date.parse(messages[0].created_at) : null;
  const items: Item[] = messages.map((message) => ({ kind: "message", at: message.created_at, message }));
  for (const event of events) {
    if (!complete && first !== null && Date.parse(event.created_at) < first) continue;
    items.push({ kind: "event", at: event.created_at, event });
  }
  // Stable: at the same instant a message stays before the transition it caused.
  return items.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/** Adds or replaces transitions by id, oldest first. */
export function mergeEvents(current: Audit[], incoming: Audit[]): Audit[] {
  const byId = new Map(current.map((e) => [e.id, e]));
  for (const event of incoming) byId.set(event.id, event);
  return [...byId.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id);
}

/** The note of the transfer that brought the conversation where it is, unless this user wrote
 * it: the receiver reads it on top of the chat. */
export function transferNote(events: Audit[], me: number): Audit | null {
  const last = [...events].reverse().find((e) => e.kind === "transferred");
  if (!last?.note?.trim() || last.actor_user_id === me) return null;
  return last;
}
