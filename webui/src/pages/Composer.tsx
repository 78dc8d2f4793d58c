// The composer: Enter sends, Shift+Enter adds a line; a file can go along (its upload shows how
// far it got and can be cancelled); "/" brings the quick replies; the customer sees "typing…"
// while the attendant writes. In "Nota privada" mode it writes a note for the team instead (the
// notes API, never the messages one: no file, no typing shown to the customer), and "@" brings
// the colleagues to mention.
import { type KeyboardEvent, useEffect, useId, useLayoutEffect, useRef, useState } from "react";
import { api, upload } from "../api/client";
import type { Audit, Media, Message, QuickReply } from "../api/types";
import { messageOf } from "../components/Field";
import { useT } from "../lib/i18n";
import { EmojiPicker } from "./EmojiPicker";
import { mentionAt, stillMentioned, useMentionable } from "./mentions";
import { Lock } from "./NoteCard";
import { PickerList, QuickPicker, filled, slashAt, useQuickReplies } from "./QuickPicker";

const TYPING_EVERY_MS = 5000;

type Props = {
  conversationId: number;
  draft: { text: string; n: number } | null;
  onSent: (m: Message) => void;
  onNoted: (line: Audit) => void;
  customer: string | null | undefined; // {nome} in quick replies
  attendant: string; // {atendente}
};

function clientId(): string {
  return crypto.randomUUID().replace(/-/g, "");
}

export function Composer({ conversationId, draft, onSent, onNoted, customer, attendant }: Props) {
  const t = useT();
  const [text, setText] = useState("");
  const [note, setNote] = useState(false); // a private note, not a reply
  const [slash, setSlash] = useState<{ start: number; query: string } | null>(null); // or "@"
  const [active, setActive] = useState(0);
  const replies = useQuickReplies(!note ? (slash?.query ?? null) : null);
  const people = useMentionable(conversationId, note ? (slash?.query ?? null) : null);
  const options = note ? people : replies;
  const picked = useRef(new Map<number, string>()); // colleagues mentioned: id → name
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
    setNote(false); // a draft is a reply to the customer
    setText(draft.text);
    setSlash(null);
    box.current?.focus();
  }, [draft]);

  function switchTo(toNote: boolean) {
    setNote(toNote);
    setSlash(null);
    if (toNote) setFile(null);
    box.current?.focus();
  }

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
    put(filled(reply.text, customer, attendant));
  }

  /** The "@name" typed gives way to the colleague's whole name. */
  function pickAt(index: number) {
    const person = people[index];
    if (!person) return;
    picked.current.set(person.id, person.name);
    put(`@${person.name} `);
  }

  function put(said: string) {
    if (!slash) return;
    const end = box.current?.selectionStart ?? text.length;
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
      if (note) {
        const mentions = stillMentioned(body, picked.current);
        onNoted(
          await api("post", "/api/v1/conversations/{id}/notes", {
            params: { id: conversationId },
            body: { text: body, mentions },
          }),
        );
        setText("");
        setSlash(null);
        picked.current.clear();
        return;
      }
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
      const at = Math.min(active, options.length - 1);
      if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
        event.preventDefault();
        if (note) pickAt(at);
        else if (replies[at]) pick(replies[at]);
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
    const found = caretAt === undefined ? null : (note ? mentionAt : slashAt)(value, caretAt);
    if (found?.query !== slash?.query) setActive(0);
    setSlash(found);
    if (note) return; // the customer sees no "typing…" for a note
    const now = Date.now();
    if (value && now - lastTyping.current > TYPING_EVERY_MS) {
      lastTyping.current = now;
      typing("typing");
    }
  }

  return (
    <form
      className={note ? "composer composer--note" : "composer"}
      data-testid="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <div className="composer__modes" role="group" aria-label={t("note.modes")}>
        <button type="button" className="ghost small" aria-pressed={!note} onClick={() => switchTo(false)}>
          {t("note.mode_reply")}
        </button>
        <button type="button" className="ghost small" aria-pressed={note} onClick={() => switchTo(true)}>
          <Lock /> {t("note.mode_note")}
        </button>
      </div>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      {slash && !note && <QuickPicker id={listId} options={replies} active={active} onPick={pick} />}
      {slash && note && (people.length > 0 || !slash.query.includes(" ")) && (
        <PickerList
          id={listId}
          label={t("note.mention_label")}
          empty={t("note.mention_none")}
          options={people.map((p) => ({ id: p.id, label: `@${p.name}` }))}
          active={active}
          onPick={pickAt}
        />
      )}
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
        {note ? (
          <span className="composer__lock" aria-hidden="true">
            <Lock />
          </span>
        ) : (
          <button
            type="button"
            className="icon"
            aria-label={t("composer.attach")}
            title={t("composer.attach")}
            onClick={() => picker.current?.click()}
          >
            <Paperclip />
          </button>
        )}
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
          aria-label={note ? t("note.placeholder") : t("composer.label")}
          title={note ? t("note.hint") : t("composer.hint")}
          placeholder={note ? t("note.placeholder") : t("composer.label")}
          value={text}
          aria-autocomplete="list"
          aria-controls={slash ? listId : undefined}
          aria-activedescendant={slash && options[active] ? `${listId}-${options[active].id}` : undefined}
          onKeyDown={onKeyDown}
          onChange={(e) => onChange(e.target.value, e.target.selectionStart)}
          onBlur={() => lastTyping.current && typing("paused")}
        />
        <button type="submit" className="primary" disabled={busy || (!text.trim() && !file)}>
          {note ? t("note.send") : t("composer.send")}
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
