// The bubbles that are not text or a file: a place with a link to the map, a contact card with
// its numbers to copy, and the reactions under a message. None of them offers a download.
import { type ReactNode, useEffect, useState } from "react";
import type { Conversation, Message } from "../api/types";
import { type Key, useT } from "../lib/i18n";
import { formatPhone } from "../lib/phone";

type Place = NonNullable<Message["location"]>;
type Card = NonNullable<Message["contact_card"]>;
type Reaction = NonNullable<Message["reaction_summary"]>[number];
type Customer = Conversation["contact"];

const COPIED_MS = 2000;

// Drawn, not emoji: they look the same on every system, with or without an emoji font.
const ICONS = {
  pin: "M12 21s-7-6.2-7-11.5a7 7 0 0 1 14 0C19 14.8 12 21 12 21Zm0-9a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5Z",
  person: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8Zm-7 9a7 7 0 0 1 14 0",
  ban: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18ZM5.6 5.6l12.8 12.8",
  alert: "M12 3 2 20h20L12 3Zm0 6v5m0 3v.01",
};

export function Icon({ name }: { name: keyof typeof ICONS }) {
  return (
    <svg
      className="icon-inline"
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
    >
      <path d={ICONS[name]} />
    </svg>
  );
}

/** OpenStreetMap in a new tab: nothing of a third party is loaded into the desk itself. */
export function mapUrl({ latitude, longitude }: Place): string {
  const at = `${latitude}/${longitude}`;
  return `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=17/${at}`;
}

/** An icon beside a title and what follows it. */
function Kind({ icon, title, children }: { icon: keyof typeof ICONS; title: string; children: ReactNode }) {
  return (
    <div className="kind">
      <span className="kind__icon">
        <Icon name={icon} />
      </span>
      <div className="kind__body">
        <strong>{title}</strong>
        {children}
      </div>
    </div>
  );
}

export function PlaceBubble({ place }: { place: Place }) {
  const t = useT();
  return (
    <Kind icon="pin" title={place.name || t("bubble.location")}>
      {place.address && <p>{place.address}</p>}
      <p className="muted small">
        {place.latitude.toFixed(5)}, {place.longitude.toFixed(5)}
      </p>
      <a href={mapUrl(place)} target="_blank" rel="noopener noreferrer" className="small">
        {t("bubble.open_map")} ↗
      </a>
    </Kind>
  );
}

export function CardBubble({ card }: { card: Card }) {
  const t = useT();
  return (
    <Kind icon="person" title={card.name || t("bubble.contact")}>
      {card.phones.length === 0 ? (
        <p className="muted small">{t("bubble.no_phone")}</p>
      ) : (
        <ul className="kind__phones">
          {card.phones.map((phone) => {
            const shown = phone.number.startsWith("+") ? formatPhone(phone.number) : phone.written;
            return (
              <li key={phone.number}>
                <a href={`tel:${phone.number}`}>{shown}</a>
                <CopyNumber number={phone.number} shown={shown} />
              </li>
            );
          })}
        </ul>
      )}
    </Kind>
  );
}

function CopyNumber({ number, shown }: { number: string; shown: string }) {
  const t = useT();
  const [said, setSaid] = useState<Key | null>(null);
  useEffect(() => {
    if (!said) return undefined;
    const timer = window.setTimeout(() => setSaid(null), COPIED_MS);
    return () => window.clearTimeout(timer);
  }, [said]);
  async function copy() {
    try {
      await navigator.clipboard.writeText(number);
      setSaid("bubble.copied");
    } catch {
      setSaid("bubble.copy_failed");
    }
  }
  return (
    <button
      type="button"
      className="small"
      aria-label={t("bubble.copy_label", { phone: shown })}
      onClick={() => void copy()}
    >
      {t(said ?? "bubble.copy")}
    </button>
  );
}

/** Who reacted, in words: the customer by name; anyone else in a one-to-one chat is us. */
function whoOf(jid: string, customer: Customer): string | null {
  if (customer?.identities?.some((identity) => identity.jid === jid)) return customer.display_name;
  return null;
}

export function Reactions({ reactions, customer }: { reactions: Reaction[]; customer: Customer }) {
  const t = useT();
  return (
    <ul className="reactions" aria-label={t("bubble.reactions")}>
      {reactions.map((reaction) => {
        const who = reaction.by.map((jid) => whoOf(jid, customer) ?? t("bubble.business")).join(", ");
        const label = t("bubble.reaction", { emoji: reaction.emoji, n: reaction.count, who });
        return (
          <li key={reaction.emoji} className="reaction" title={label} aria-label={label}>
            {reaction.emoji} <span className="reaction__count">{reaction.count}</span>
          </li>
        );
      })}
    </ul>
  );
}
