// Knowledge (supervisors and admins): the articles the copilot grounds drafts in, searched by
// words, and the quick replies attendants insert by shortcut — two tabs of one page.
import { useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import type { Article } from "../api/types";
import { Confirm } from "../components/Dialog";
import { messageOf } from "../components/Field";
import { PageMessages } from "../components/PageMessages";
import { dateTime, useT } from "../lib/i18n";
import { ArticleEditor } from "./KnowledgeDialogs";
import { QuickReplies } from "./QuickReplies";

type Tab = "articles" | "quick";

export default function Knowledge() {
  const t = useT();
  const [tab, setTab] = useState<Tab>(() =>
    new URLSearchParams(location.search).get("tab") === "quick" ? "quick" : "articles",
  );
  const tabs: [Tab, string][] = [
    ["articles", t("knowledge.tab.articles")],
    ["quick", t("knowledge.tab.quick")],
  ];

  return (
    <section className="page" aria-labelledby="knowledge-title">
      <header className="page__head">
        <h1 id="knowledge-title">{t("knowledge.title")}</h1>
      </header>
      <div className="tabs" role="tablist" aria-label={t("knowledge.title")}>
        {tabs.map(([id, label]) => (
          <button
            key={id}
            type="button"
            role="tab"
            id={`knowledge-tab-${id}`}
            aria-selected={tab === id}
            aria-controls={`knowledge-panel-${id}`}
            tabIndex={tab === id ? 0 : -1}
            onClick={() => setTab(id)}
            onKeyDown={(event) => {
              if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
              const next = tab === "articles" ? "quick" : "articles";
              setTab(next);
              document.getElementById(`knowledge-tab-${next}`)?.focus();
            }}
          >
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`knowledge-panel-${tab}`} aria-labelledby={`knowledge-tab-${tab}`}>
        {tab === "articles" ? <Articles /> : <QuickReplies />}
      </div>
    </section>
  );
}

function Articles() {
  const t = useT();
  const [query, setQuery] = useState("");
  const [articles, setArticles] = useState<Article[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<Article | "new" | null>(null);
  const [deleting, setDeleting] = useState<Article | null>(null);
  const generation = useRef(0);

  // Searching as one types, a moment after the last key; only the newest answer is shown.
  useEffect(() => {
    const asked = ++generation.current;
    const timer = window.setTimeout(
      () => {
        api("get", "/api/v1/knowledge", { query: { q: query.trim() || null, limit: 200 } })
          .then((list) => {
            if (asked !== generation.current) return;
            setArticles(list.items);
            setError(null);
          })
          .catch((caught: unknown) => setError(messageOf(caught)));
      },
      query ? 250 : 0,
    );
    return () => window.clearTimeout(timer);
  }, [query]);

  async function remove(article: Article) {
    try {
      await api("delete", "/api/v1/knowledge/{id}", { params: { id: article.id } });
      setArticles((current) => current?.filter((a) => a.id !== article.id) ?? null);
      setNotice(t("knowledge.deleted", { title: article.title }));
    } catch (caught) {
      setError(messageOf(caught));
    }
  }

  return (
    <div className="stack">
      <div className="knowledge-bar">
        <input
          type="search"
          aria-label={t("knowledge.search")}
          placeholder={t("knowledge.search")}
          value={query}
          onChange={(event) => setQuery(event.target.value)}
        />
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          {t("knowledge.new")}
        </button>
      </div>
      <PageMessages notice={notice} error={error && t("common.error", { m: error })} />
      {articles === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : articles.length === 0 ? (
        <p className="muted">{query ? t("knowledge.no_match") : t("knowledge.empty")}</p>
      ) : (
        <ul className="knowledge-list" aria-label={t("knowledge.tab.articles")}>
          {articles.map((article) => (
            <li key={article.id} className="card knowledge-item" data-article={article.id}>
              <div className="knowledge-item__main">
                <h2>{article.title}</h2>
                <p className="knowledge-item__body muted small">{article.body.slice(0, 220)}</p>
                <p className="knowledge-item__meta small">
                  {article.tags.map((tag) => (
                    <span key={tag} className="knowledge-tag">
                      {tag}
                    </span>
                  ))}
                  <span className="muted">{t("knowledge.updated", { at: dateTime(article.updated_at) })}</span>
                </p>
              </div>
              <div className="row-actions">
                <button
                  type="button"
                  className="small"
                  aria-label={t("knowledge.edit_named", { title: article.title })}
                  onClick={() => setEditing(article)}
                >
                  {t("knowledge.edit")}
                </button>
                <button
                  type="button"
                  className="danger small"
                  aria-label={t("knowledge.delete_named", { title: article.title })}
                  onClick={() => setDeleting(article)}
                >
                  {t("knowledge.delete")}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {editing && (
        <ArticleEditor
          article={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={(saved) => {
            setEditing(null);
            setArticles((current) => {
              const rest = (current ?? []).filter((a) => a.id !== saved.id);
              return [saved, ...rest];
            });
            setNotice(t("knowledge.saved", { title: saved.title }));
          }}
        />
      )}
      {deleting && (
        <Confirm
          text={t("knowledge.confirm_delete", { title: deleting.title })}
          action={t("knowledge.delete")}
          danger
          onConfirm={() => void remove(deleting)}
          onClose={() => setDeleting(null)}
        />
      )}
    </div>
  );
}
