// The chat's header: the customer, where the conversation stands (status, department, who
// holds it) and the moves that make sense for it now — Assumir, Transferir, Pendente,
// Resolver, back to the queue and, for supervisors and admins, Atribuir. Core decides; a move
// it refuses is said in words (someone else took it first: who).
import { useState } from "react";
import { api, ApiError } from "../api/client";
import { useNames } from "../api/directory";
import type { Conversation, User } from "../api/types";
import { StatusChip } from "../components/DeskBadges";
import { dateTime, useT } from "../lib/i18n";
import { contactPhone } from "../lib/phone";
import { AssignDialog, SnoozeDialog, TransferDialog, refusal } from "./DeskDialogs";
import { isStaff, visible } from "./inboxQuery";

type Move = "claim" | "unassign" | "pending" | "resolve";

function post(move: Move, id: number): Promise<Conversation> {
  const params = { params: { id } };
  switch (move) {
    case "claim":
      return api("post", "/api/v1/conversations/{id}/claim", params);
    case "unassign":
      return api("post", "/api/v1/conversations/{id}/unassign", params);
    case "pending":
      return api("post", "/api/v1/conversations/{id}/pending", params);
    case "resolve":
      return api("post", "/api/v1/conversations/{id}/resolve", params);
  }
}

/** Which moves this user may make on the conversation in its current status. */
export function movesFor(c: Conversation, me: User) {
  const waiting = c.status === "bot" || c.status === "queued";
  const held = c.status === "open" || c.status === "pending";
  const mine = c.assignee_id === me.id;
  const staff = isStaff(me);
  // Core lets the holder, or anyone when nobody holds it, or a supervisor move it.
  const handles = visible(c, me) && (staff || mine || c.assignee_id === null);
  return {
    claim: handles && (waiting || (held && c.assignee_id === null)),
    assign: handles && staff && (waiting || held),
    transfer: handles && (waiting || held),
    pending: handles && c.status === "open",
    snooze: handles && (c.status === "open" || c.status === "pending"),
    unassign: handles && held && c.assignee_id !== null,
    resolve: handles && (waiting || held),
  };
}

type Props = {
  conversation: Conversation | null;
  user: User;
  typing: boolean;
  onBack: () => void;
  onChanged: (c: Conversation) => void;
  onReload: () => void;
  panelOpen: boolean;
  onPanel: () => void;
};

export function ChatHead({ conversation, user, typing, onBack, onChanged, onReload, panelOpen, onPanel }: Props) {
  const t = useT();
  const names = useNames();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<"transfer" | "assign" | "snooze" | null>(null);
  const contact = conversation?.contact;

  async function run(move: Move) {
    if (!conversation) return;
    setBusy(true);
    setError(null);
    try {
      onChanged(await post(move, conversation.id));
    } catch (caught) {
      if (caught instanceof ApiError && caught.code === "conversation_taken") {
        const holder = caught.details.assignee_id;
        const name = typeof holder === "number" ? names.person(holder) : null;
        setError(name ? t("chat.taken", { name }) : t("chat.taken_someone"));
        onReload();
      } else {
        setError(refusal(caught));
      }
    } finally {
      setBusy(false);
    }
  }

  const done = (changed: Conversation) => {
    setDialog(null);
    onChanged(changed);
  };

  const moves = conversation ? movesFor(conversation, user) : null;
  const department = names.department(conversation?.department_id);
  const holder = conversation?.assignee_id
    ? conversation.assignee_id === user.id
      ? t("chat.with_you")
      : t("chat.with", { name: names.person(conversation.assignee_id) ?? t("timeline.someone") })
    : null;

  return (
    <header className="chat__head">
      <button type="button" className="ghost back" onClick={onBack} aria-label={t("inbox.back")}>
        ←
      </button>
      <div className="chat__who">
        <h2>{contact?.display_name ?? "…"}</h2>
        <p className="muted small">
          {contact ? contactPhone(contact) : ""}
          {typing && <span className="typing"> · {t("chat.typing")}</span>}
        </p>
      </div>
      <button
        type="button"
        className="small ghost"
        aria-expanded={panelOpen}
        aria-controls="contact-panel"
        onClick={onPanel}
      >
        {t("contact.toggle")}
      </button>
      {conversation && (
        <p className="chat__where small" data-testid="chat-where">
          <StatusChip status={conversation.status} />
          {department && <span className="chat__department">{department}</span>}
          {holder && <span className="chat__holder">{holder}</span>}
          {conversation.snoozed_until && (
            <span className="chat__snoozed">{t("chat.snoozed", { at: dateTime(conversation.snoozed_until) })}</span>
          )}
        </p>
      )}
      {conversation && moves && (
        <div className="chat__actions" role="group" aria-label={t("chat.actions")}>
          {moves.claim && (
            <button type="button" className="primary small" disabled={busy} onClick={() => void run("claim")}>
              {t("chat.claim")}
            </button>
          )}
          {moves.assign && (
            <button type="button" className="small" disabled={busy} onClick={() => setDialog("assign")}>
              {t("chat.assign")}
            </button>
          )}
          {moves.transfer && (
            <button type="button" className="small" disabled={busy} onClick={() => setDialog("transfer")}>
              {t("chat.transfer")}
            </button>
          )}
          {moves.unassign && (
            <button type="button" className="small" disabled={busy} onClick={() => void run("unassign")}>
              {t("chat.unassign")}
            </button>
          )}
          {moves.pending && (
            <button type="button" className="small" disabled={busy} onClick={() => void run("pending")}>
              {t("chat.pending")}
            </button>
          )}
          {moves.snooze && (
            <button type="button" className="small" disabled={busy} onClick={() => setDialog("snooze")}>
              {t("chat.snooze")}
            </button>
          )}
          {moves.resolve && (
            <button type="button" className="small" disabled={busy} onClick={() => void run("resolve")}>
              {t("chat.resolve")}
            </button>
          )}
        </div>
      )}
      {error && (
        <p className="error small chat__error" role="alert">
          {error}
        </p>
      )}
      {dialog === "transfer" && conversation && (
        <TransferDialog conversation={conversation} onClose={() => setDialog(null)} onDone={done} />
      )}
      {dialog === "snooze" && conversation && (
        <SnoozeDialog conversation={conversation} onClose={() => setDialog(null)} onDone={done} />
      )}
      {dialog === "assign" && conversation && (
        <AssignDialog conversation={conversation} onClose={() => setDialog(null)} onDone={done} />
      )}
    </header>
  );
}
