// Who the customer is, beside the chat: their name (editable), phone, WhatsApp identities, the
// conversation's tags, their earlier conversations and the copilot's help (a summary, contact
// details it read in the messages). A right-hand column on a desktop, a sheet on a phone.
import { type FormEvent, useEffect, useState } from "react";
import { api } from "../api/client";
import { useNames, useTags } from "../api/directory";
import type { Channel, Contact, Conversation, Tag } from "../api/types";
import { CsatLine, StatusChip } from "../components/DeskBadges";
import { faultyField, messageOf } from "../components/Field";
import { TagChip } from "../components/TagChip";
import { dateTime, useT } from "../lib/i18n";
import { navigate } from "../lib/router";
import { contactPhone, formatPhone } from "../lib/phone";
import { ContactAssist } from "./ContactAssist";

type Props = { conversation: Conversation; onChanged: (c: Conversation) => void; onClose: () => void };

export function ContactPanel({ conversation, onChanged, onClose }: Props) {
  const t = useT();
  const contact = conversation.contact;
  // A contact saved here shows at once; the notices that follow say the same.
  const renamed = (saved: Contact) => onChanged({ ...conversation, contact: saved });
  return (
    <aside className="contact-panel" id="contact-panel" aria-label={t("contact.title")} data-testid="contact-panel">
      <header className="contact-panel__head">
        <h2>{t("contact.title")}</h2>
        <button type="button" className="icon" aria-label={t("contact.close")} onClick={onClose}>
          ×
        </button>
      </header>
      {contact ? (
        <>
          <ContactName contact={contact} onSaved={renamed} />
          <section className="contact-panel__part">
            <p className="contact-panel__phone" data-testid="contact-phone">
              {contactPhone(contact) ?? t("contact.no_phone")}
            </p>
            {contact.email && <p className="small">{contact.email}</p>}
            {typeof contact.attributes.company === "string" && (
              <p className="small">{contact.attributes.company}</p>
            )}
            <ul className="contact-panel__ids" aria-label={t("contact.identities")}>
              {(contact.identities ?? []).map((identity) => (
                <li key={identity.jid} className="mono small">
                  {identity.jid}
                </li>
              ))}
            </ul>
          </section>
        </>
      ) : (
        <p className="muted small">{t("common.loading")}</p>
      )}
      <ConversationTags conversation={conversation} onChanged={onChanged} />
      <Earlier conversation={conversation} />
      {contact && <ContactAssist conversationId={conversation.id} contactId={contact.id} onSaved={renamed} />}
    </aside>
  );
}

function ContactName({ contact, onSaved }: { contact: Contact; onSaved: (saved: Contact) => void }) {
  const t = useT();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function save(event: FormEvent) {
    event.preventDefault();
    const wanted = name.trim();
    if (!wanted || wanted.length > 120) {
      setError(t("contact.name_rule"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onSaved(await api("patch", "/api/v1/contacts/{id}", { params: { id: contact.id }, body: { name: wanted } }));
      setEditing(false);
    } catch (caught) {
      setError(faultyField(caught) === "name" ? t("contact.name_rule") : t("common.error", { m: messageOf(caught) }));
    } finally {
      setBusy(false);
    }
  }

  if (!editing) {
    return (
      <div className="contact-panel__name">
        <h3>{contact.display_name}</h3>
        <button
          type="button"
          className="small ghost"
          onClick={() => {
            setName(contact.name ?? contact.display_name);
            setError(null);
            setEditing(true);
          }}
        >
          {t("contact.rename")}
        </button>
      </div>
    );
  }
  return (
    <form className="contact-panel__name contact-panel__name--editing" onSubmit={(e) => void save(e)} noValidate>
      <input
        aria-label={t("contact.name")}
        value={name}
        maxLength={120}
        autoFocus
        onChange={(e) => setName(e.target.value)}
        onKeyDown={(e) => e.key === "Escape" && setEditing(false)}
        aria-invalid={error ? true : undefined}
      />
      <button type="submit" className="primary small" disabled={busy}>
        {t("contact.save")}
      </button>
      <button type="button" className="small" onClick={() => setEditing(false)}>
        {t("common.cancel")}
      </button>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function ConversationTags({ conversation, onChanged }: { conversation: Conversation; onChanged: (c: Conversation) => void }) {
  const t = useT();
  const tags = useTags();
  const [error, setError] = useState<string | null>(null);
  const carried = (conversation.tag_ids ?? []).map(tags.byId).filter((tag): tag is Tag => tag !== null);
  const others = (tags.list ?? []).filter((tag) => !(conversation.tag_ids ?? []).includes(tag.id));

  async function put(ids: number[]) {
    setError(null);
    try {
      onChanged(await api("put", "/api/v1/conversations/{id}/tags", { params: { id: conversation.id }, body: { tag_ids: ids } }));
    } catch (caught) {
      setError(t("common.error", { m: messageOf(caught) }));
    }
  }

  return (
    <section className="contact-panel__part" aria-labelledby="contact-tags">
      <h3 id="contact-tags">{t("contact.tags")}</h3>
      <p className="tag-chips" data-testid="conversation-tags">
        {carried.length === 0 && <span className="muted small">{t("contact.no_tags")}</span>}
        {carried
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((tag) => (
            <TagChip key={tag.id} tag={tag} onRemove={() => void put(carried.filter((x) => x.id !== tag.id).map((x) => x.id))} />
          ))}
      </p>
      {others.length > 0 && (
        <select
          aria-label={t("contact.add_tag")}
          value=""
          onChange={(e) => {
            const id = Number(e.target.value);
            if (id) void put([...(conversation.tag_ids ?? []), id]);
          }}
        >
          <option value="">{t("contact.add_tag")}</option>
          {others.map((tag) => (
            <option key={tag.id} value={tag.id}>
              {tag.name}
            </option>
          ))}
        </select>
      )}
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

/** The contact's other conversations the user may see, newest first, each a link to it. */
function Earlier({ conversation }: { conversation: Conversation }) {
  const t = useT();
  const names = useNames();
  const [items, setItems] = useState<Conversation[] | null>(null);
  const [channels, setChannels] = useState<Channel[]>([]);
  const [error, setError] = useState<string | null>(null);
  const { id, contact_id: contactId } = conversation;

  useEffect(() => {
    let stopped = false;
    void Promise.all([
      api("get", "/api/v1/conversations", { query: { contact_id: contactId, limit: 20 } }),
      api("get", "/api/v1/channels"),
    ])
      .then(([page, numbers]) => {
        if (stopped) return;
        setItems(page.items.filter((c) => c.id !== id));
        setChannels(numbers.items);
      })
      .catch((caught: unknown) => !stopped && setError(messageOf(caught)));
    return () => {
      stopped = true;
    };
  }, [id, contactId]);

  const channelName = (channelId: number) => {
    const found = channels.find((c) => c.id === channelId);
    return found ? (found.phone ? `${found.name} (${formatPhone(found.phone)})` : found.name) : null;
  };

  return (
    <section className="contact-panel__part" aria-labelledby="contact-earlier">
      <h3 id="contact-earlier">{t("contact.earlier")}</h3>
      {error ? (
        <p className="error small">{t("common.error", { m: error })}</p>
      ) : items === null ? (
        <p className="muted small">{t("common.loading")}</p>
      ) : items.length === 0 ? (
        <p className="muted small">{t("contact.no_earlier")}</p>
      ) : (
        <ul className="contact-panel__earlier">
          {items.map((c) => (
            <li key={c.id} data-earlier={c.id}>
              <a
                href={`/inbox/${c.id}${location.search}`}
                onClick={(event) => {
                  if (event.metaKey || event.ctrlKey) return;
                  event.preventDefault();
                  navigate(`/inbox/${c.id}${location.search}`);
                }}
              >
                <span className="contact-panel__when">{dateTime(c.created_at)}</span>
                <StatusChip status={c.status} />
              </a>
              <p className="muted small">
                {[channelName(c.channel_id), names.department(c.department_id)].filter(Boolean).join(" · ")}
              </p>
              <CsatLine conversation={c} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
