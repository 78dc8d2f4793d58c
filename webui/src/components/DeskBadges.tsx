// Small marks the desk's pages share: a conversation's status as a chip, a person's presence as
// a coloured dot with its word (for screen readers and on hover), the customer's rating, the time
// left to answer (SLA).
import type { Conversation, ConversationStatus, Presence } from "../api/types";
import { type Key, useT } from "../lib/i18n";

const STATUS_LABEL: Record<ConversationStatus, Key> = {
  bot: "status.bot",
  queued: "status.queued",
  open: "status.open",
  pending: "status.pending",
  resolved: "status.resolved",
  closed: "status.closed",
};

export function StatusChip({ status }: { status: ConversationStatus }) {
  const t = useT();
  return (
    <span className={`status-chip status-chip--${status}`} data-status-chip={status}>
      {t(STATUS_LABEL[status])}
    </span>
  );
}

export function useStatusLabel(): (status: ConversationStatus) => string {
  const t = useT();
  return (status) => t(STATUS_LABEL[status]);
}

const PRESENCE_LABEL: Record<Presence, Key> = {
  online: "presence.online",
  away: "presence.away",
  offline: "presence.offline",
};

/** The dot alone is decoration; ``labelled`` also says the word (visually hidden). */
export function PresenceDot({ status, labelled = true }: { status: Presence; labelled?: boolean }) {
  const t = useT();
  const word = t(PRESENCE_LABEL[status]);
  return (
    <span className="presence" data-presence={status} title={word}>
      <span className={`presence__dot presence__dot--${status}`} aria-hidden="true" />
      {labelled && <span className="visually-hidden">{word}</span>}
    </span>
  );
}

export function usePresenceLabel(): (status: Presence) => string {
  const t = useT();
  return (status) => t(PRESENCE_LABEL[status]);
}

/** Where the satisfaction survey stands: the customer's stars and comment, or that it waits. */
export function CsatLine({ conversation }: { conversation: Conversation }) {
  const t = useT();
  const { csat_status: status, csat_rating: rating, csat_comment: comment } = conversation;
  if (!status) return null;
  return (
    <aside className="csat small" aria-label={t("chat.csat")} data-testid="csat" data-rating={rating ?? ""}>
      {rating ? (
        <>
          <span className="csat__stars" aria-hidden="true">
            {"★".repeat(rating)}
            <span className="csat__off">{"★".repeat(5 - rating)}</span>
          </span>
          <span>{t("chat.csat_stars", { n: rating })}</span>
          {comment && <q className="csat__comment">{comment}</q>}
        </>
      ) : (
        <span className="muted">{t(status === "declined" ? "chat.csat_declined" : "chat.csat_asked")}</span>
      )}
    </aside>
  );
}

/** The time left before the customer's answer is due (the department's SLA): neutral while it
 * runs, amber when a quarter of the target is left, red once late. Nothing when no answer is owed. */
export function SlaChip({ conversation, now }: { conversation: Conversation; now: number }) {
  const t = useT();
  if (!conversation.sla_due_at) return null;
  const due = Date.parse(conversation.sla_due_at);
  const left = Math.round((due - now) / 1000);
  const late = conversation.sla_state === "breached" || left <= 0;
  const state = late ? "breached" : conversation.sla_state === "at_risk" ? "at_risk" : "running";
  const dueAt = new Date(due).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
  return (
    <span
      className={`sla sla--${state}`}
      data-sla={state}
      title={t(late ? "sla.late_since" : "sla.due_at", { at: dueAt })}
    >
      {late ? t("sla.breached") : t("sla.left", { left: span(left) })}
    </span>
  );
}

function span(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86_400)} d`;
}
