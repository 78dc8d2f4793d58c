// Small marks the desk's pages share: a conversation's status as a chip, and a person's
// presence as a coloured dot with its word (for screen readers and on hover).
import type { ConversationStatus, Presence } from "../api/types";
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
