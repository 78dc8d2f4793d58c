// The inbox: the conversation list beside the open chat (one or the other on a phone).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/client";
import { realtime } from "../api/realtime";
import type { Conversation, User } from "../api/types";
import { useQueues, useTags } from "../api/directory";
import { SlaChip, StatusChip } from "../components/DeskBadges";
import { TagChips } from "../components/TagChip";
import { VirtualList } from "../components/VirtualList";
import { messageOf } from "../components/Field";
import { ago, time, useT } from "../lib/i18n";
import { navigate, usePath, useSearch } from "../lib/router";
import { Chat } from "./Chat";
import { InboxFilters } from "./InboxFilters";
import { useAlertsSetting, useInboxAlerts } from "./inboxAlerts";
import { type Filters, filtering, listQuery, matches, parseFilters, searchOf, tabsFor } from "./inboxQuery";
import { QueueBar } from "./QueueBar";
import { useNow } from "./useNow";

const PAGE = 50;
const ROW_HEIGHT = 68;

function byActivity(a: Conversation, b: Conversation): number {
  return b.last_message_at.localeCompare(a.last_message_at) || b.id - a.id;
}

/** The list after a notice about `changed`: updated in place, added, or taken out. */
function placed(current: Conversation[], changed: Conversation, filters: Filters, me: User) {
  const others = current.filter((c) => c.id !== changed.id);
  const wasShown = others.length !== current.length;
  // A search shows what matched (the server's call): only rows shown stay, updated.
  if (!matches(changed, filters, me) || (filters.q && !wasShown)) return others;
  return [...others, changed].sort(byActivity);
}

export default function Inbox({ user }: { user: User }) {
  const t = useT();
  const path = usePath();
  const openId = Number(/^\/inbox\/(\d+)/.exec(path)?.[1] ?? 0) || null;
  const urlQuery = useSearch();
  // The URL is the source of the filters: a reload, a shared link or the back button set them.
  const filters = useMemo(() => parseFilters(urlQuery, user), [urlQuery, user]);
  const queues = useQueues();
  const tags = useTags();
  const queued = queues?.reduce((sum, q) => sum + q.queued, 0) ?? 0;
  const now = useNow(10_000);
  const [search, setSearch] = useState(filters.q);
  const [items, setItems] = useState<Conversation[]>([]);
  const shown = useRef<Conversation[]>([]);
  shown.current = items;
  const alerts = useAlertsSetting();
  useInboxAlerts(alerts.on, openId, shown, user);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0);
  // Notices that came while a page was on its way: the page may have been read before them
  // (and its answer may even reach the page after them), so they are applied again on top.
  const meanwhile = useRef<{ loads: number; notices: Conversation[] }>({ loads: 0, notices: [] });

  const change = useCallback(
    (patch: Partial<Filters>) => {
      const next = { ...parseFilters(location.search, user), ...patch };
      navigate(location.pathname + searchOf(next, user), true);
    },
    [user],
  );

  const loadPage = useCallback(
    async (after: string | null, reset: boolean) => {
      const mine = reset ? ++generation.current : generation.current;
      const pending = meanwhile.current;
      const from = pending.notices.length;
      pending.loads += 1;
      setLoading(true);
      try {
        const page = await api("get", "/api/v1/conversations", {
          query: {
            limit: PAGE,
            ...(after ? { cursor: after } : {}),
            ...listQuery(filters),
          },
        });
        if (mine !== generation.current) return;
        const later = pending.notices.slice(from);
        setItems((current) => {
          const known = reset ? new Map<number, Conversation>() : new Map(current.map((c) => [c.id, c]));
          for (const item of page.items) known.set(item.id, item);
          const list = [...known.values()].sort(byActivity);
          return later.reduce((shown, changed) => placed(shown, changed, filters, user), list);
        });
        setCursor(page.next_cursor ?? null);
        setError(null);
      } catch (caught) {
        if (mine === generation.current) setError(messageOf(caught));
      } finally {
        if (mine === generation.current) setLoading(false);
        pending.loads -= 1;
        if (pending.loads === 0) pending.notices = [];
      }
    },
    [filters, user],
  );

  useEffect(() => {
    setItems([]);
    setCursor(undefined);
    void loadPage(null, true);
  }, [loadPage]);

  // The URL changed elsewhere (a link, the back button): the box shows its words.
  useEffect(() => setSearch((typed) => (typed.trim() === filters.q ? typed : filters.q)), [filters.q]);

  // Debounced search: the list follows the words typed, without a request per key.
  useEffect(() => {
    const timer = window.setTimeout(() => {
      if (search.trim() !== filters.q) change({ q: search.trim() });
    }, 300);
    return () => window.clearTimeout(timer);
  }, [search, filters.q, change]);

  useEffect(() => {
    // Opened before core confirmed the subscription: the first page may miss what changed in
    // between, so it is loaded again once confirmed (later reconnects replay what they missed).
    let current = realtime.isConfirmed("inbox");
    const confirmed = () => {
      if (!current) void loadPage(null, true);
      current = true;
    };
    return realtime.listen(
      "inbox",
      (notice) => {
        if (notice.type === "resync") {
          void loadPage(null, true);
          return;
        }
        const changed = notice.data as unknown as Conversation;
        if (typeof changed.id !== "number") return;
        if (meanwhile.current.loads > 0) meanwhile.current.notices.push(changed);
        setItems((current) => placed(current, changed, filters, user));
      },
      confirmed,
    );
  }, [loadPage, filters, user]);

  const open = (id: number) => {
    // Measured up to the chat's first paint (Chat ends the measure "conversation-open").
    performance.clearMarks("conversation-open");
    performance.mark("conversation-open");
    navigate(`/inbox/${id}${location.search}`);
  };

  return (
    <div className={`inbox ${openId ? "inbox--chat" : ""}`}>
      <aside className="convs" aria-label={t("inbox.title")}>
        <div className="convs__head">
          <input
            type="search"
            aria-label={t("inbox.search")}
            placeholder={t("inbox.search")}
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
          <div className="tabs" role="tablist" aria-label={t("inbox.title")}>
            {tabsFor(user).map((x) => (
              <button
                key={x.tab}
                type="button"
                role="tab"
                aria-selected={filters.tab === x.tab}
                onClick={() => change({ tab: x.tab })}
              >
                {t(x.label)}
                {x.tab === "queued" && queued > 0 && <span className="tab-count">{queued}</span>}
              </button>
            ))}
          </div>
          {filters.tab === "queued" && (
            <QueueBar queues={queues} chosen={filters.department} onChoose={(department) => change({ department })} />
          )}
          <InboxFilters me={user} filters={filters} onChange={change}>
            <button
              type="button"
              className="ghost inbox-x-alerts"
              aria-pressed={alerts.on}
              title={t("inbox.alerts.hint")}
              onClick={alerts.toggle}
            >
              <Bell /> {t("inbox.alerts.toggle")}
            </button>
          </InboxFilters>
          {alerts.on && alerts.blocked && <p className="muted small">{t("inbox.alerts.blocked")}</p>}
        </div>
        {error && (
          <p className="error pad" role="alert">
            {t("common.error", { m: error })}
          </p>
        )}
        {items.length === 0 && !loading ? (
          <p className="muted pad">
            {filters.tab === "mine" && !filtering(filters) && !filters.q ? t("inbox.empty_mine") : t("inbox.empty")}
          </p>
        ) : (
          <VirtualList
            items={items}
            rowHeight={ROW_HEIGHT}
            label={t("inbox.title")}
            keyOf={(c) => c.id}
            onEndReached={() => {
              if (cursor && !loading) void loadPage(cursor, false);
            }}
            render={(c) => (
              <button
                type="button"
                className={`conv ${c.id === openId ? "conv--open" : ""}`}
                aria-current={c.id === openId ? "true" : undefined}
                data-conversation={c.id}
                onClick={() => open(c.id)}
              >
                <span className="conv__top">
                  <span className="conv__name">{c.contact?.display_name ?? `#${c.contact_id}`}</span>
                  <TagChips ids={c.tag_ids ?? []} byId={tags.byId} />
                  <span className="conv__time">{time(c.last_message_at)}</span>
                </span>
                <span className="conv__bottom">
                  {filters.tab === "all" && <StatusChip status={c.status} />}
                  {filters.tab === "queued" && c.waiting_since && (
                    <span className="conv__wait">{ago(c.waiting_since, now)}</span>
                  )}
                  <SlaChip conversation={c} now={now} />
                  <span className="conv__preview">{c.last_message_preview}</span>
                  {c.unread_count > 0 && (
                    <span className="unread" aria-label={`${c.unread_count}`}>
                      {c.unread_count}
                    </span>
                  )}
                </span>
              </button>
            )}
          />
        )}
      </aside>
      <section className="chatpane">
        {openId ? (
          <Chat key={openId} id={openId} user={user} onBack={() => navigate(`/inbox${location.search}`)} />
        ) : (
          <p className="muted pad center">{t("inbox.pick")}</p>
        )}
      </section>
    </div>
  );
}

function Bell() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
      <path d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0" />
    </svg>
  );
}
