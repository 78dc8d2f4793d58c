// One message as a bubble: its text (WhatsApp formatting), media, place or contact card, quote,
// time, ticks, reactions, and whether it was edited or deleted. A download is offered only for
// a file core says can be fetched.
import { useEffect, useState } from "react";
import { authorized } from "../api/client";
import type { Conversation, Message, MessageStatus } from "../api/types";
import { messageOf } from "../components/Field";
import { WaText } from "../components/WaText";
import { currentLocale, dateTime, type Key, time, useT } from "../lib/i18n";
import { CardBubble, Icon, PlaceBubble, Reactions } from "./BubbleKinds";

export function dayOf(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function DaySeparator({ iso }: { iso: string }) {
  const t = useT();
  const day = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86_400_000);
  let label = day.toLocaleDateString(currentLocale(), { day: "numeric", month: "long", year: "numeric" });
  if (dayOf(iso) === dayOf(today.toISOString())) label = t("chat.today");
  else if (dayOf(iso) === dayOf(yesterday.toISOString())) label = t("chat.yesterday");
  return (
    <div className="day" role="separator">
      <span>{label}</span>
    </div>
  );
}

const TICKS: Record<MessageStatus, string> = {
  pending: "🕓",
  sent: "✓",
  delivered: "✓✓",
  read: "✓✓",
  played: "✓✓",
  failed: "!",
  received: "",
};

export function Ticks({ status }: { status: MessageStatus }) {
  const t = useT();
  if (status === "received") return null;
  const label = t(`tick.${status}` as Key);
  return (
    <span className={`ticks ticks--${status}`} data-status={status} title={label} aria-label={label}>
      {TICKS[status]}
    </span>
  );
}

type Props = {
  message: Message;
  quoted: Message | null;
  hasQuote: boolean;
  customer: Conversation["contact"]; // names who reacted
};

/** What the bubble is, as a word for tests and styles: its type, or unsupported, or deleted. */
function kindOf(message: Message): string {
  if (message.revoked_at) return "revoked";
  if (message.unsupported) return "unsupported";
  return message.type;
}

export function Bubble({ message, quoted, hasQuote, customer }: Props) {
  const t = useT();
  const out = message.direction === "outbound";
  const revoked = !!message.revoked_at;
  const reactions = message.reaction_summary ?? [];
  return (
    <div
      className={`bubble ${out ? "bubble--out" : "bubble--in"}`}
      data-message={message.id}
      data-direction={message.direction}
      data-kind={kindOf(message)}
    >
      {hasQuote && (
        <blockquote className="quote">
          {quoted?.revoked_at ? (
            t("bubble.revoked")
          ) : quoted ? (
            <WaText text={quoted.body || `[${quoted.type}]`} />
          ) : (
            t("chat.quoted")
          )}
        </blockquote>
      )}
      {revoked ? <Revoked message={message} /> : <Content message={message} />}
      <span className="bubble__meta">
        {message.edited_at && !revoked && (
          <span className="bubble__edited" title={t("bubble.edited_at", { at: dateTime(message.edited_at) })}>
            {t("bubble.edited")}
          </span>
        )}
        {time(message.created_at)}
        {out && <Ticks status={message.status} />}
      </span>
      {message.status === "failed" && message.error && (
        <p className="error small">{t("chat.failed", { m: message.error })}</p>
      )}
      {reactions.length > 0 && <Reactions reactions={reactions} customer={customer} />}
    </div>
  );
}

/** Deleted for everyone, as WhatsApp shows it; what it said stays folded away, for the record. */
function Revoked({ message }: { message: Message }) {
  const t = useT();
  return (
    <>
      <p className="bubble__gone" title={t("bubble.revoked_at", { at: dateTime(message.revoked_at) })}>
        <Icon name="ban" />
        {t("bubble.revoked")}
      </p>
      {message.body && (
        <details className="bubble__original">
          <summary>{t("bubble.show_original")}</summary>
          <p className="bubble__text">
            <WaText text={message.body} />
          </p>
        </details>
      )}
    </>
  );
}

function Content({ message }: { message: Message }) {
  const t = useT();
  const text = message.body && (
    <p className="bubble__text">
      <WaText text={message.body} />
    </p>
  );
  const unreadable =
    message.unsupported ||
    (message.type === "location" && !message.location) ||
    (message.type === "contact_card" && !message.contact_card);
  if (unreadable) {
    return (
      <>
        <p className="bubble__gone">
          <Icon name="alert" />
          {t("bubble.unsupported")}
        </p>
        {text}
      </>
    );
  }
  if (message.location) {
    return (
      <>
        <PlaceBubble place={message.location} />
        {text}
      </>
    );
  }
  if (message.contact_card) return <CardBubble card={message.contact_card} />;
  return (
    <>
      {message.media_url ? (
        <MediaPreview message={message} path={message.media_url} />
      ) : (
        message.media && <NoFile message={message} />
      )}
      {text}
    </>
  );
}

function fileName(message: Message): string {
  const name = message.media?.filename;
  return typeof name === "string" && name ? name : `${message.type}-${message.id}`;
}

/** A file WhatsApp announced but the gateway could not keep: said, with nothing to click. */
function NoFile({ message }: { message: Message }) {
  const t = useT();
  return <p className="bubble__gone small">{t("bubble.file_missing", { name: fileName(message) })}</p>;
}

// Media needs the access token, so it is fetched and shown from a local object URL.
function MediaPreview({ message, path }: { message: Message; path: string }) {
  const t = useT();
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const filename = fileName(message);
  const inline = message.type === "image" || message.type === "sticker" || message.type === "audio" || message.type === "voice";

  useEffect(() => {
    if (!inline) return undefined;
    let url: string | null = null;
    let stopped = false;
    void authorized(path)
      .then((r) => r.blob())
      .then((blob) => {
        if (stopped) return;
        url = URL.createObjectURL(blob);
        setSrc(url);
      })
      .catch(() => undefined);
    return () => {
      stopped = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [path, inline]);

  async function download() {
    setFailed(null);
    let blob: Blob;
    try {
      blob = await (await authorized(path)).blob();
    } catch (caught) {
      setFailed(messageOf(caught));
      return;
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    link.click();
    URL.revokeObjectURL(link.href);
  }

  if (src && (message.type === "image" || message.type === "sticker")) {
    return <img className="bubble__image" src={src} alt={filename} loading="lazy" />;
  }
  if (src) return <audio controls src={src} className="bubble__audio" />;
  return (
    <>
      <button type="button" className="small attachment" onClick={() => void download()}>
        {filename} · {t("chat.download")}
      </button>
      {failed && (
        <p className="error small" role="alert">
          {t("bubble.download_failed", { m: failed })}
        </p>
      )}
    </>
  );
}
