// A private note in the timeline: a card for the team, never a chat bubble — who wrote it and
// when, its text with the colleagues it mentions marked.
import type { Audit } from "../api/types";
import { time, useT } from "../lib/i18n";
import { withMentions } from "./mentions";
import type { Names } from "./timeline";

export function NoteCard({ event, names }: { event: Audit; names: Names }) {
  const t = useT();
  const mentioned = Array.isArray(event.data?.mentions) ? (event.data.mentions as unknown[]) : [];
  const named = mentioned.map((id) => (typeof id === "number" ? names.person(id) : null));
  const author = names.person(event.actor_user_id) ?? t("timeline.someone");
  return (
    <article className="note-card" aria-label={t("note.card")} data-testid="note-card">
      <header className="note-card__head small">
        <Lock />
        <span>{t("note.card_head", { name: author })}</span>
        <span aria-hidden="true">·</span>
        <time dateTime={event.created_at}>{time(event.created_at)}</time>
      </header>
      <p className="note-card__text">
        {withMentions(event.note ?? "", named.filter((n): n is string => n !== null)).map((piece, index) =>
          piece.mention ? (
            <mark key={index} className="note-card__mention">
              {piece.text}
            </mark>
          ) : (
            <span key={index}>{piece.text}</span>
          ),
        )}
      </p>
    </article>
  );
}

export function Lock() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
      <rect x="5" y="11" width="14" height="9" rx="2" />
      <path d="M8 11V8a4 4 0 0 1 8 0v3" />
    </svg>
  );
}
