// One conversation: history (newest page first, older on demand), live messages, ticks,
// typing, the transitions as system lines among them, the composer and the copilot's
// suggestion. The header says where the conversation stands and offers the moves.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { api } from "../api/client";
import { useNames } from "../api/directory";
import { realtime } from "../api/realtime";
import type { Audit, Conversation, Message, User } from "../api/types";
import { CsatLine } from "../components/DeskBadges";
import { messageOf } from "../components/Field";
import { dateTime, time, useT } from "../lib/i18n";
import { Bubble, DaySeparator, dayOf } from "./Bubble";
import { ChatHead } from "./ChatHead";
import { Composer } from "./Composer";
import { ContactPanel } from "./ContactPanel";
import { Copilot } from "./Copilot";
import { visible } from "./inboxQuery";
import { NoteCard } from "./NoteCard";
import { interleave, lineOf, mergeEvents, transferNote } from "./timeline";
import { useSuggestion } from "./useSuggestion";

const PAGE = 50;
const NEAR_BOTTOM_PX = 120;
const TYPING_TTL_MS = 15_000;

// How far a message has gone: a page read before a receipt arrived live does not undo it.
const PROGRESS: Record<Message["status"], number> = {
  pending: 0,
  failed: 1,
  sent: 1,
  received: 1,
  delivered: 2,
  read: 3,
  played: 4,
};

// Answers and notices about the conversation can arrive out of order (a mark-read answer
// waits for the gateway): the view written last in the database wins, not the one heard last.
function later(current: Conversation | null, incoming: Conversation): Conversation {
  if (current === null || current.id !== incoming.id) return incoming;
  return Date.parse(incoming.updated_at) >= Date.parse(current.updated_at) ? incoming : current;
}

function merge(current: Message[], incoming: Message[]): Message[] {
  const byId = new Map(current.map((m) => [m.id, m]));
  for (const message of incoming) {
    const known = byId.get(message.id);
    const behind = known && PROGRESS[known.status] > PROGRESS[message.status];
    byId.set(message.id, behind ? { ...message, status: known.status } : message);
  }
  return [...byId.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id);
}

export function Chat({ id, user, onBack }: { id: number; user: User; onBack: () => void }) {
  const t = useT();
  const names = useNames();
  const [conversation, setShown] = useState<Conversation | null>(null);
  const setConversation = useCallback((c: Conversation) => setShown((current) => later(current, c)), []);
  const [messages, setMessages] = useState<Message[]>([]);
  const [events, setEvents] = useState<Audit[]>([]);
  const [older, setOlder] = useState<string | null | undefined>(undefined);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [typing, setTyping] = useState(false);
  const [unseen, setUnseen] = useState(false);
  const [panel, setPanel] = useState(false); // the contact panel beside the chat
  const copilot = useSuggestion(id);
  const [draft, setDraft] = useState<{ text: string; n: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const stick = useRef(true); // at the bottom: follow new messages
  const anchor = useRef<number | null>(null); // scrollHeight before older messages came in
  const typingTimer = useRef<number | undefined>(undefined);

  const markRead = useCallback(() => {
    void api("post", "/api/v1/conversations/{id}/read", { params: { id } })
      .then(setConversation)
      .catch(() => undefined);
  }, [id, setConversation]);

  useEffect(() => {
    let stopped = false;
    void (async () => {
      try {
        const [found, page] = await Promise.all([
          api("get", "/api/v1/conversations/{id}", { params: { id } }),
          api("get", "/api/v1/conversations/{id}/messages", { params: { id }, query: { limit: PAGE } }),
        ]);
        if (stopped) return;
        setConversation(found);
        setMessages((current) => merge(current, page.items));
        setOlder(page.next_cursor ?? null);
        if (found.unread_count > 0) markRead();
      } catch (caught) {
        if (!stopped) setError(messageOf(caught));
      }
    })();
    return () => {
      stopped = true;
    };
  }, [id, markRead]);

  const reload = useCallback(() => {
    void api("get", "/api/v1/conversations/{id}", { params: { id } })
      .then(setConversation)
      .catch(() => undefined);
  }, [id, setConversation]);

  useEffect(() => {
    // The newest page and the transitions again once live (what came between the first load
    // and the subscription is in them) and after a resync.
    const newest = () => {
      void api("get", "/api/v1/conversations/{id}/messages", { params: { id }, query: { limit: PAGE } })
        .then((page) => setMessages((current) => merge(current, page.items)))
        .catch(() => undefined);
      void api("get", "/api/v1/conversations/{id}/events", { params: { id } })
        .then((list) => setEvents((current) => mergeEvents(current, list.items)))
        .catch(() => undefined);
    };
    const off = realtime.listen(`conversation:${id}`, (notice) => {
      const data = notice.data;
      if (notice.type === "conversation.event") {
        const event = data as unknown as Audit;
        if (typeof event.id === "number") setEvents((current) => mergeEvents(current, [event]));
      } else if (notice.type === "message.created" || notice.type === "message.updated") {
        const message = data as unknown as Message;
        setMessages((current) => merge(current, [message]));
        if (notice.type === "message.created" && message.direction === "inbound") {
          setTyping(false);
          if (document.visibilityState === "visible") markRead();
        }
      } else if (notice.type === "typing.on" || notice.type === "typing.off") {
        window.clearTimeout(typingTimer.current);
        const on = notice.type === "typing.on";
        setTyping(on);
        if (on) typingTimer.current = window.setTimeout(() => setTyping(false), TYPING_TTL_MS);
      } else if (notice.type === "resync") {
        newest();
      }
    }, newest);
    const offInbox = realtime.listen("inbox", (notice) => {
      if (notice.data.id === id) setConversation(notice.data as unknown as Conversation);
    });
    return () => {
      off();
      offInbox();
      window.clearTimeout(typingTimer.current);
    };
  }, [id, markRead]);

  async function loadOlder() {
    if (!older || loadingOlder) return;
    setLoadingOlder(true);
    try {
      const page = await api("get", "/api/v1/conversations/{id}/messages", {
        params: { id },
        query: { limit: PAGE, cursor: older },
      });
      anchor.current = scroller.current?.scrollHeight ?? null;
      setMessages((current) => merge(current, page.items));
      setOlder(page.next_cursor ?? null);
    } catch (caught) {
      setError(messageOf(caught));
    } finally {
      setLoadingOlder(false);
    }
  }

  // After a render: keep the reader's place when history grows above, follow the bottom
  // only when the reader is there, otherwise say that something new arrived below.
  const measured = useRef(false);
  useLayoutEffect(() => {
    const box = scroller.current;
    if (!box) return;
    if (!measured.current && older !== undefined) {
      measured.current = true;
      // How long opening a conversation took, for people and for the browser test.
      requestAnimationFrame(() => {
        if (performance.getEntriesByName("conversation-open", "mark").length > 0) {
          performance.measure("conversation-open", "conversation-open");
        }
      });
    }
    if (anchor.current !== null) {
      box.scrollTop += box.scrollHeight - anchor.current;
      anchor.current = null;
    } else if (stick.current) {
      box.scrollTop = box.scrollHeight;
    } else {
      setUnseen(true);
    }
  }, [messages, events, typing, older]);

  function onScroll() {
    const box = scroller.current;
    if (!box) return;
    stick.current = box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
    if (stick.current) setUnseen(false);
  }

  function toBottom() {
    const box = scroller.current;
    if (box) box.scrollTop = box.scrollHeight;
    stick.current = true;
    setUnseen(false);
  }

  const byWaId = new Map(messages.filter((m) => m.wa_message_id).map((m) => [m.wa_message_id, m]));
  const items = interleave(messages, events, older === null);
  const note = transferNote(events, user.id);
  // Moved where this user no longer sees it (transferred away): nothing more to do here.
  const gone = conversation !== null && !visible(conversation, user);

  return (
    <div className={`chat ${panel ? "chat--panel" : ""}`} data-testid="chat">
      <div className="chat__top">
        <ChatHead
          conversation={conversation}
          user={user}
          typing={typing}
          onBack={onBack}
          onChanged={setConversation}
          onReload={reload}
          panelOpen={panel}
          onPanel={() => setPanel((open) => !open)}
        />
        {note && (
          <aside className="transfer-note" aria-label={t("chat.note_label")} data-testid="transfer-note">
            <p className="transfer-note__head small">
              {names.person(note.actor_user_id)
                ? t("chat.note_from", { name: names.person(note.actor_user_id) ?? "", at: dateTime(note.created_at) })
                : t("chat.note", { at: dateTime(note.created_at) })}
            </p>
            <p className="transfer-note__text">{note.note}</p>
          </aside>
        )}
        {conversation && <CsatLine conversation={conversation} />}
      </div>
      <div className="chat__body">
        <div className="messages" ref={scroller} onScroll={onScroll} aria-live="polite" aria-relevant="additions">
          <div className="messages__older">
            {older ? (
              <button type="button" className="small" onClick={() => void loadOlder()} disabled={loadingOlder}>
                {t("chat.older")}
              </button>
            ) : older === null ? (
              <span className="muted small">{t("chat.no_more")}</span>
            ) : null}
          </div>
          {error && (
            <p className="error" role="alert">
              {t("common.error", { m: error })}
            </p>
          )}
          {items.map((item, index) => {
            const previous = items[index - 1];
            const day = (!previous || dayOf(previous.at) !== dayOf(item.at)) && <DaySeparator iso={item.at} />;
            if (item.kind === "event" && item.event.kind === "note") {
              return (
                <div key={`e${item.event.id}`} className="messages__item">
                  {day}
                  <NoteCard event={item.event} names={names} />
                </div>
              );
            }
            if (item.kind === "event") {
              const line = lineOf(item.event, names);
              if (!line) return null;
              return (
                <div key={`e${item.event.id}`} className="messages__item">
                  {day}
                  <p className="system-line" data-event={item.event.kind}>
                    <span>{line.text}</span>
                    {line.note && <span className="system-line__note"> — {t("timeline.note", { note: line.note })}</span>}
                    <time className="system-line__time" dateTime={item.at}>
                      {time(item.at)}
                    </time>
                  </p>
                </div>
              );
            }
            const { message } = item;
            const quoted = message.quoted_wa_message_id ? byWaId.get(message.quoted_wa_message_id) : undefined;
            return (
              <div key={message.id} className="messages__item">
                {day}
                <Bubble
                  message={message}
                  quoted={quoted ?? null}
                  hasQuote={!!message.quoted_wa_message_id}
                  customer={conversation?.contact}
                />
              </div>
            );
          })}
          {typing && (
            <div className="bubble bubble--in typing-dots" aria-label={t("chat.typing")}>
              <span />
              <span />
              <span />
            </div>
          )}
        </div>
        {unseen && (
          <button type="button" className="new-below" onClick={toBottom}>
            {t("chat.new_below")}
          </button>
        )}
        <Copilot
          suggestion={copilot.suggestion}
          onUse={() => {
            const text = copilot.use();
            if (text !== null) setDraft((d) => ({ text, n: (d?.n ?? 0) + 1 }));
          }}
          onDismiss={copilot.dismiss}
          onRegenerate={copilot.regenerate}
        />
      </div>
      {gone ? (
        <p className="chat__gone muted" role="status">
          {t("chat.gone", { name: names.department(conversation.department_id) ?? t("timeline.a_department") })}
        </p>
      ) : (
        <Composer
          conversationId={id}
          draft={draft}
          customer={conversation?.contact?.display_name}
          attendant={user.name}
          onSent={(message) => {
            copilot.sent(message.body);
            stick.current = true;
            setMessages((current) => merge(current, [message]));
          }}
          onNoted={(line) => {
            stick.current = true;
            setEvents((current) => mergeEvents(current, [line]));
          }}
        />
      )}
      {panel && conversation && (
        <ContactPanel conversation={conversation} onChanged={setConversation} onClose={() => setPanel(false)} />
      )}
    </div>
  );
}
