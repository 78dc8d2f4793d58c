// One message as a bubble: its text (WhatsApp formatting), media, quote, time and ticks.
import { useEffect, useState } from "react";
import { authorized } from "../api/client";
import type { Message, MessageStatus } from "../api/types";
import { WaText } from "../components/WaText";
import { currentLocale, type Key, time, useT } from "../lib/i18n";

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

type Props = { message: Message; quoted: Message | null; hasQuote: boolean };

export function Bubble({ message, quoted, hasQuote }: Props) {
  const t = useT();
  const out = message.direction === "outbound";
  return (
    <div
      className={`bubble ${out ? "bubble--out" : "bubble--in"}`}
      data-message={message.id}
      data-direction={message.direction}
    >
      {hasQuote && (
        <blockquote className="quote">
          {quoted ? <WaText text={quoted.body || `[${quoted.type}]`} /> : t("chat.quoted")}
        </blockquote>
      )}
      {message.media && <MediaPreview message={message} />}
      {message.body && (
        <p className="bubble__text">
          <WaText text={message.body} />
        </p>
      )}
      <span className="bubble__meta">
        {time(message.created_at)}
        {out && <Ticks status={message.status} />}
      </span>
      {message.status === "failed" && message.error && (
        <p className="error small">{t("chat.failed", { m: message.error })}</p>
      )}
    </div>
  );
}

// Media needs the access token, so it is fetched and shown from a local object URL.
function MediaPreview({ message }: { message: Message }) {
  const t = useT();
  const [src, setSrc] = useState<string | null>(null);
  const media = message.media ?? {};
  // Received files are fetched through the gateway (`key`); sent ones are our uploads (`id`).
  const path =
    typeof media.key === "string" || typeof media.id !== "string"
      ? `/api/v1/messages/${message.id}/media`
      : `/api/v1/media/${media.id}`;
  const filename = typeof media.filename === "string" ? media.filename : `${message.type}-${message.id}`;
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
    const blob = await (await authorized(path)).blob();
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
    <button type="button" className="small attachment" onClick={() => void download()}>
      {filename} · {t("chat.download")}
    </button>
  );
}
