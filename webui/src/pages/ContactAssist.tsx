// The copilot in the contact panel: a summary of the conversation (for whoever picks it up
// next) and the contact details the customer wrote, proposed — saved only when applied.
import { useState } from "react";
import { api } from "../api/client";
import type { Contact, ContactProposal, Paths } from "../api/types";
import { messageOf } from "../components/Field";
import { useT } from "../lib/i18n";

type ContactEdit = NonNullable<Paths["/api/v1/contacts/{id}"]["patch"]["requestBody"]>["content"]["application/json"];
type Ask<T> = { state: "idle" } | { state: "busy" } | { state: "done"; value: T } | { state: "failed"; error: string };

type Props = { conversationId: number; contactId: number; onSaved: (saved: Contact) => void };

export function ContactAssist({ conversationId, contactId, onSaved }: Props) {
  const t = useT();
  const [summary, setSummary] = useState<Ask<string>>({ state: "idle" });
  const [proposal, setProposal] = useState<Ask<ContactProposal>>({ state: "idle" });
  const [applying, setApplying] = useState(false);

  async function summarize() {
    setSummary({ state: "busy" });
    try {
      const done = await api("post", "/api/v1/conversations/{id}/summary", { params: { id: conversationId } });
      setSummary({ state: "done", value: done.text });
    } catch (caught) {
      setSummary({ state: "failed", error: messageOf(caught) });
    }
  }

  async function propose() {
    setProposal({ state: "busy" });
    try {
      const found = await api("post", "/api/v1/conversations/{id}/contact-proposal", { params: { id: conversationId } });
      setProposal({ state: "done", value: found });
    } catch (caught) {
      setProposal({ state: "failed", error: messageOf(caught) });
    }
  }

  async function apply(changes: ContactProposal["changes"]) {
    setApplying(true);
    try {
      const body = changes as ContactEdit; // the API's own PATCH body for this contact
      onSaved(await api("patch", "/api/v1/contacts/{id}", { params: { id: contactId }, body }));
      setProposal({ state: "idle" });
    } catch (caught) {
      setProposal({ state: "failed", error: messageOf(caught) });
    } finally {
      setApplying(false);
    }
  }

  const offered = proposal.state === "done" ? proposal.value : null;
  const fields = offered
    ? ([
        ["name", t("contact.field.name"), offered.changes.name === undefined ? null : offered.name],
        ["email", t("contact.field.email"), offered.changes.email === undefined ? null : offered.email],
        ["company", t("contact.field.company"), offered.changes.attributes === undefined ? null : offered.company],
      ] as const).filter(([, , value]) => value)
    : [];

  return (
    <section className="contact-panel__part" aria-labelledby="contact-assist">
      <h3 id="contact-assist">{t("contact.copilot")}</h3>
      <div className="row-actions">
        <button type="button" className="small" disabled={summary.state === "busy"} onClick={() => void summarize()}>
          {t("contact.summarize")}
        </button>
        <button type="button" className="small" disabled={proposal.state === "busy"} onClick={() => void propose()}>
          {t("contact.propose")}
        </button>
      </div>
      {summary.state === "busy" && (
        <p className="muted small" aria-busy="true">
          {t("contact.summarizing")}
        </p>
      )}
      {summary.state === "failed" && (
        <p className="error small" role="alert">
          {t("contact.summary_failed", { m: summary.error })}
        </p>
      )}
      {summary.state === "done" && (
        <p className="contact-panel__summary small" data-testid="contact-summary">
          {summary.value}
        </p>
      )}
      {proposal.state === "busy" && <p className="muted small">{t("contact.proposing")}</p>}
      {proposal.state === "failed" && (
        <p className="error small" role="alert">
          {t("contact.proposal_failed", { m: proposal.error })}
        </p>
      )}
      {offered && fields.length === 0 && <p className="muted small">{t("contact.nothing_new")}</p>}
      {offered && fields.length > 0 && (
        <div className="contact-panel__proposal" data-testid="contact-proposal">
          <dl className="small">
            {fields.map(([key, label, value]) => (
              <div key={key}>
                <dt>{label}</dt>
                <dd>{value}</dd>
              </div>
            ))}
          </dl>
          <div className="row-actions">
            <button type="button" className="primary small" disabled={applying} onClick={() => void apply(offered.changes)}>
              {t("contact.apply")}
            </button>
            <button type="button" className="small" onClick={() => setProposal({ state: "idle" })}>
              {t("contact.discard")}
            </button>
          </div>
        </div>
      )}
    </section>
  );
}
