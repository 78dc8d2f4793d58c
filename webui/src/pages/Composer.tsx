// The composer: Enter sends, Shift+Enter adds a line; a file can go along (its upload shows how
// far it got and can be cancelled); "/" brings the quick replies; the customer sees "typing…"
// while the attendant writes.
import { type KeyboardEvent, useEffect, useId, useLayoutEffect, useRef, useState } from "react";
import { api, upload } from "../api/client";
import type { Media, Message, QuickReply } from "../api/types";
import { messageOf } from "../components/Field";
import { useT } from "../lib/i18n";
import { EmojiPicker } from "./EmojiPicker";
import { QuickPicker, filled, slashAt, useQuickReplies } from "./QuickPicker";

const TYPING_EVERY_MS = 5000;

type Props = {
  conversationId: number;
  draft: { text: string; n: number } | null;
  onSent: (m: Message) => void;
  customer: string | null | undefined; // {nome} in quick replies
  attendant: string; // {atendente}
};

function clientId(): string {
  return crypto.randomUUID().replace(/-/g, "");
}

export function Composer({ conversationId, draft, onSent, customer, attendant }: Props) {
  const t = useT();
  const [text, setText] = useState("");
  const [slash, setSlash] = useState<{ start: number; query: string } | null>(null);
  const [active, setActive] = useState(0);
  const options = useQuickReplies(slash?.query ?? null);
  const listId = useId();
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  // While the file goes up: how much of it (null until the browser says), and how to stop it.
  const [uploading, setUploading] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const stopUpload = useRef<AbortController | null>(null);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const lastTyping = useRef(0);
  const caret = useRef<number | null>(null); // where to put the caret after an insertion

  // "Use" in the copilot panel puts the suggestion here, for editing before sending.
  useEffect(() => {
    if (!draft) return;
    setText(draft.text);
    setSlash(null);
    box.current?.focus();
  }, [draft]);

  // After an emoji went in, the caret stands right after it, in the focused box.
  useLayoutEffect(() => {
    if (caret.current === null || !box.current) return;
    box.current.focus();
    box.current.setSelectionRange(caret.current, caret.current);
    caret.current = null;
  }, [text]);

  function insert(emoji: string) {
    const field = box.current;
    const start = field?.selectionStart ?? text.length;
    const end = field?.selectionEnd ?? text.length;
    caret.current = start + emoji.length;
    onChange(text.slice(0, start) + emoji + text.slice(end));
  }

  /** The "/word" typed gives way to the quick reply, placeholders filled. */
  function pick(reply: QuickReply) {
    if (!slash) return;
    const end = box.current?.selectionStart ?? text.length;
    const said = filled(reply.text, customer, attendant);
    caret.current = slash.start + said.length;
    setSlash(null);
    onChange(text.slice(0, slash.start) + said + text.slice(end));
  }

  function typing(state: "typing" | "paused") {
    void api("post", "/api/v1/conversations/{id}/typing", {
      params: { id: conversationId },
      body: { state },
    }).catch(() => undefined);
  }

  async function send() {
    const body = text.trim();
    if ((!body && !file) || busy) return;
    setBusy(true);
    setError(null);
    try {
      let media: Media | null = null;
      if (file) {
        media = await uploaded(file);
        if (!media) return;
      }
      const message = await api("post", "/api/v1/conversations/{id}/messages", {
        params: { id: conversationId },
        body: { text: body || null, media_id: media?.id ?? null, client_id: clientId() },
      });
      onSent(message);
      setText("");
      setSlash(null);
      setFile(null);
      lastTyping.current = 0;
    } catch (caught) {
      setError(messageOf(caught));
    } finally {
      setBusy(false);
      box.current?.focus();
    }
  }

  /** The file, uploaded; null when the attendant cancelled or it failed (which is said). */
  async function uploaded(chosen: File): Promise<Media | null> {
    const form = new FormData();
    form.append("file", chosen, chosen.name);
    const controller = new AbortController();
    stopUpload.current = controller;
    setProgress(null);
    setUploading(true);
    try {
      return await upload<Media>("/api/v1/media", form, setProgress, controller.signal);
    } catch (caught) {
      if (!controller.signal.aborted) setError(t("composer.upload_failed", { m: messageOf(caught) }));
      return null;
    } finally {
      stopUpload.current = null;
      setUploading(false);
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (slash && options.length > 0) {
      const step = { ArrowDown: 1, ArrowUp: options.length - 1 }[event.key];
      if (step !== undefined) {
        event.preventDefault();
        setActive((active + step) % options.length);
        return;
      }
      const chosen = options[Math.min(active, options.length - 1)];
      if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && chosen) {
        event.preventDefault();
        pick(chosen);
        return;
      }
    }
    if (slash && event.key === "Escape") {
      event.preventDefault();
      setSlash(null);
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  }

  function onChange(value: string, caretAt?: number) {
    setText(value);
    const found = caretAt === undefined ? null : slashAt(value, caretAt);
    if (found?.query !== slash?.query) setActive(0);
    setSlash(found);
    const now = Date.now();
    if (value && now - lastTyping.current > TYPING_EVERY_MS) {
      lastTyping.current = now;
      typing("typing");
    }
  }

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      {slash && <QuickPicker id={listId} options={options} active={active} onPick={pick} />}
      {file && (
        <div className="composer__file">
          <Paperclip /> {file.name}
          {uploading ? (
            <>
              <progress max={1} value={progress ?? undefined} aria-label={t("composer.upload_label")} />
              {/* Said by the progress bar itself to screen readers; this is for the eye. */}
              <span className="small" aria-hidden="true">
                {progress === null ? t("composer.uploading") : `${Math.round(progress * 100)}%`}
              </span>
              <button type="button" className="small" onClick={() => stopUpload.current?.abort()}>
                {t("composer.cancel_upload")}
              </button>
            </>
          ) : (
            <button type="button" className="icon" aria-label={t("composer.remove")} onClick={() => setFile(null)}>
              ×
            </button>
          )}
        </div>
      )}
      <div className="composer__row">
        <button
          type="button"
          className="icon"
          aria-label={t("composer.attach")}
          title={t("composer.attach")}
          onClick={() => picker.current?.click()}
        >
          <Paperclip />
        </button>
        <EmojiPicker onPick={insert} />
        <input
          ref={picker}
          type="file"
          hidden
          onChange={(e) => {
            setFile(e.target.files?.[0] ?? null);
            e.target.value = "";
          }}
        />
        <textarea
          ref={box}
          rows={1}
          aria-label={t("composer.label")}
          title={t("composer.hint")}
          placeholder={t("composer.label")}
          value={text}
          aria-autocomplete="list"
          aria-controls={slash ? listId : undefined}
          aria-activedescendant={slash && options[active] ? `${listId}-${options[active].id}` : undefined}
          onKeyDown={onKeyDown}
          onChange={(e) => onChange(e.target.value, e.target.selectionStart)}
          onBlur={() => lastTyping.current && typing("paused")}
        />
        <button type="submit" className="primary" disabled={busy || (!text.trim() && !file)}>
          {t("composer.send")}
        </button>
      </div>
    </form>
  );
}

function Paperclip() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
      <path d="M21 11.5 12.5 20a5 5 0 0 1-7-7l8.5-8.5a3.5 3.5 0 0 1 5 5L10.5 18a2 2 0 0 1-3-3l8-8" />
    </svg>
  );
}
