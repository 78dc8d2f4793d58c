// Small marks the desk's pages share: a conversation's status as a chip, a person's presence as
// a coloured dot with its word (for screen readers and on hover), the customer's rating.
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
