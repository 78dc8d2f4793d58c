// Quick replies: short texts an attendant inserts by typing their shortcut (/prazo).
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { QuickReply } from "../api/types";
import { Confirm } from "../components/Dialog";
import { messageOf } from "../components/Field";
import { PageMessages } from "../components/PageMessages";
import { useT } from "../lib/i18n";
import { QuickReplyEditor } from "./KnowledgeDialogs";

export function QuickReplies() {
  const t = useT();
  const [replies, setReplies] = useState<QuickReply[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<QuickReply | "new" | null>(null);
  const [deleting, setDeleting] = useState<QuickReply | null>(null);

  useEffect(() => {
    api("get", "/api/v1/quick-replies")
      .then((list) => setReplies(list.items))
      .catch((caught: unknown) => setError(messageOf(caught)));
  }, []);

  async function remove(reply: QuickReply) {
    try {
      await api("delete", "/api/v1/quick-replies/{id}", { params: { id: reply.id } });
      setReplies((current) => current?.filter((r) => r.id !== reply.id) ?? null);
      setNotice(t("knowledge.quick.deleted", { s: reply.shortcut }));
    } catch (caught) {
      setError(messageOf(caught));
    }
  }

  return (
    <div className="stack">
      <div className="knowledge-bar">
        <p className="muted small">{t("knowledge.quick.about")}</p>
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          {t("knowledge.quick.new")}
        </button>
      </div>
      <PageMessages notice={notice} error={error && t("common.error", { m: error })} />
      {replies === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : replies.length === 0 ? (
        <p className="muted">{t("knowledge.quick.empty")}</p>
      ) : (
        <ul className="knowledge-list" aria-label={t("knowledge.tab.quick")}>
          {replies.map((reply) => (
            <li key={reply.id} className="card knowledge-item" data-quick-reply={reply.shortcut}>
              <div className="knowledge-item__main">
                <h2 className="knowledge-shortcut">/{reply.shortcut}</h2>
                <p className="knowledge-item__body small">{reply.text}</p>
              </div>
              <div className="row-actions">
                <button
                  type="button"
                  className="small"
                  aria-label={t("knowledge.edit_named", { title: `/${reply.shortcut}` })}
                  onClick={() => setEditing(reply)}
                >
                  {t("knowledge.edit")}
                </button>
                <button
                  type="button"
                  className="danger small"
                  aria-label={t("knowledge.delete_named", { title: `/${reply.shortcut}` })}
                  onClick={() => setDeleting(reply)}
                >
                  {t("knowledge.delete")}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {editing && (
        <QuickReplyEditor
          reply={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={(saved) => {
            setEditing(null);
            setReplies((current) =>
              [...(current ?? []).filter((r) => r.id !== saved.id), saved].sort((a, b) =>
                a.shortcut.localeCompare(b.shortcut),
              ),
            );
            setNotice(t("knowledge.quick.saved", { s: saved.shortcut }));
          }}
        />
      )}
      {deleting && (
        <Confirm
          text={t("knowledge.quick.confirm_delete", { s: deleting.shortcut })}
          action={t("knowledge.delete")}
          danger
          onConfirm={() => void remove(deleting)}
          onClose={() => setDeleting(null)}
        />
      )}
    </div>
  );
}
