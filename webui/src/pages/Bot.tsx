// A number's bot (from Números): switched on or off, its greeting, the menu tree, what it says
// when it does not understand and when it hands over, how many tries and how long it waits,
// and the queue it falls back to — beside a live preview of what the customer sees. Admins
// edit it; supervisors see it read-only. A number that never had a bot starts from a
// suggested menu (one option per department). Problems show under the field they are about,
// whether found here or by the server (a 422 names the field).
import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import { useDepartments } from "../api/directory";
import type { BotConfig, Channel, User } from "../api/types";
import { Field, messageOf } from "../components/Field";
import { PageMessages } from "../components/PageMessages";
import { type Key, useT } from "../lib/i18n";
import { navigate } from "../lib/router";
import { BotMenuEditor } from "./BotMenuEditor";
import { BotPreview } from "./BotPreview";
import {
  type Draft,
  type Problem,
  type Problems,
  check,
  draftFrom,
  problemsOf,
  suggestedMenu,
  toApi,
  untouched,
} from "./botModel";

const PROBLEM_TEXT: Record<Problem, Key> = {
  label: "bot.problem.label",
  label_long: "bot.problem.label_long",
  destination: "bot.problem.destination",
  empty_submenu: "bot.problem.empty_submenu",
  too_many: "bot.problem.too_many",
  too_deep: "bot.problem.too_deep",
  gone: "bot.problem.gone",
  max_tries: "bot.problem.max_tries",
  timeout: "bot.problem.timeout",
  too_long: "bot.problem.too_long",
};

type Props = { channelId: number; me: User };

export default function Bot({ channelId, me }: Props) {
  const t = useT();
  const admin = me.role === "admin";
  const departments = useDepartments();
  const [channel, setChannel] = useState<Channel | null>(null);
  const [config, setConfig] = useState<BotConfig | null>(null);
  const [gone, setGone] = useState(false);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [saved, setSaved] = useState(""); // the config last read or saved, as JSON
  const [suggested, setSuggested] = useState(false);
  const [problems, setProblems] = useState<Problems>({});
  const [attempt, setAttempt] = useState(0);
  const [general, setGeneral] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [fresh, setFresh] = useState<number | null>(null);
  const form = useRef<HTMLFormElement>(null);
  const fallbackId = useId();
  const onTimeoutId = useId();

  useEffect(() => {
    let stopped = false;
    void (async () => {
      try {
        const [list, bot] = await Promise.all([
          api("get", "/api/v1/channels"),
          api("get", "/api/v1/channels/{id}/bot", { params: { id: channelId } }),
        ]);
        if (stopped) return;
        const found = list.items.find((c) => c.id === channelId);
        if (!found) setGone(true);
        setChannel(found ?? null);
        setConfig(bot);
      } catch (caught) {
        if (stopped) return;
        if (caught instanceof ApiError && caught.status === 404) setGone(true);
        else setLoadError(messageOf(caught));
      }
    })();
    return () => {
      stopped = true;
    };
  }, [channelId]);

  // The draft is made once the config and the departments are both known.
  useEffect(() => {
    if (!config || !departments || draft) return;
    const made = draftFrom(config);
    setSaved(JSON.stringify(toApi(made)));
    if (admin && untouched(config) && departments.length > 0) {
      made.menu = suggestedMenu(departments);
      setSuggested(true);
    }
    setDraft(made);
  }, [config, departments, draft, admin]);

  // After a failed save the first field at fault gets the focus.
  useEffect(() => {
    if (attempt > 0) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [attempt]);

  const said = (path: string): string | null => {
    const problem = problems[path];
    if (problem === undefined) return null;
    return typeof problem === "string" ? t(PROBLEM_TEXT[problem]) : problem.said;
  };

  const edit = (change: Partial<Draft>) => setDraft((current) => (current ? { ...current, ...change } : current));

  async function save(event: FormEvent) {
    event.preventDefault();
    if (!draft || busy) return;
    setNotice(null);
    const found = check(draft);
    if (Object.keys(found).length > 0) {
      setProblems(found);
      setGeneral(t("bot.fix"));
      setAttempt((n) => n + 1);
      return;
    }
    setBusy(true);
    setProblems({});
    setGeneral(null);
    const body = toApi(draft);
    try {
      await api("put", "/api/v1/channels/{id}/bot", { params: { id: channelId }, body });
      setSaved(JSON.stringify(body));
      setSuggested(false);
      setNotice(t("bot.saved"));
    } catch (caught) {
      const named = caught instanceof ApiError && caught.status === 422 ? problemsOf(caught.details, draft) : null;
      if (named) {
        setProblems(named);
        setGeneral(t("bot.fix"));
        setAttempt((n) => n + 1);
      } else {
        setGeneral(t("common.error", { m: messageOf(caught) }));
      }
    } finally {
      setBusy(false);
    }
  }

  const back = (
    <a
      href="/numbers"
      className="bot-page__back small"
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey) return;
        event.preventDefault();
        navigate("/numbers");
      }}
    >
      ← {t("bot.back")}
    </a>
  );

  if (gone || loadError) {
    return (
      <section className="page" aria-labelledby="bot-title">
        {back}
        <h1 id="bot-title">{t("bot.open")}</h1>
        <p className={gone ? "muted" : "error"} role={gone ? undefined : "alert"}>
          {gone ? t("bot.not_found") : t("common.error", { m: loadError ?? "" })}
        </p>
      </section>
    );
  }
  if (!draft || !channel || !departments) return <p className="muted pad">{t("common.loading")}</p>;

  const byDefault = departments.find((d) => d.is_default)?.name ?? "—";
  const offTo = departments.find((d) => d.id === channel.department_id)?.name ?? byDefault;
  const dirty = JSON.stringify(toApi(draft)) !== saved;
  const fallbackError = said("fallback_department_id");
  const fallbackKnown = draft.fallback === null || departments.some((d) => d.id === draft.fallback);

  return (
    <section className="page bot-page" aria-labelledby="bot-title">
      <header className="bot-page__head">
        {back}
        <h1 id="bot-title">{t("bot.title", { name: channel.name })}</h1>
        <a href="#bot-preview-title" className="narrow-only small">
          {t("bot.to_preview")} ↓
        </a>
      </header>
      {!admin && <p className="muted">{t("bot.read_only")}</p>}
      {suggested && <p className="bot-page__suggested small">{t("bot.suggested")}</p>}
      <PageMessages notice={notice} error={null} />
      <div className="bot-layout">
        <form ref={form} className="bot-form" onSubmit={(e) => void save(e)} noValidate>
          <fieldset className="bot-fields" disabled={!admin}>
            <div className="bot-switch">
              <label className="check">
                <input
                  type="checkbox"
                  role="switch"
                  checked={draft.enabled}
                  onChange={(e) => edit({ enabled: e.target.checked })}
                />
                <span>{t("bot.enabled")}</span>
              </label>
              <p className="muted small">
                {draft.enabled ? t("bot.enabled_hint") : t("bot.off_hint", { name: offTo })}
              </p>
            </div>
            <Field
              label={t("bot.greeting")}
              hint={t("bot.greeting_hint", { nome: "{nome}" })}
              multiline
              rows={2}
              value={draft.greeting}
              onChange={(greeting) => edit({ greeting })}
              error={said("greeting")}
            />
            <fieldset className="bot-menu-box">
              <legend>{t("bot.menu")}</legend>
              <p className="muted small bot-menu-box__hint">{t("bot.menu_hint")}</p>
              {said("menu") && (
                <p className="admin-field__error" role="alert">
                  {said("menu")}
                </p>
              )}
              <BotMenuEditor
                menu={draft.menu}
                onChange={(menu) => edit({ menu })}
                path="menu"
                trail={[]}
                departments={departments}
                said={said}
                onReshape={() => setProblems({})}
                fresh={fresh}
                onAdded={setFresh}
              />
            </fieldset>
            <Field
              label={t("bot.invalid_reply")}
              hint={t("bot.invalid_reply_hint")}
              multiline
              rows={2}
              value={draft.invalidReply}
              onChange={(invalidReply) => edit({ invalidReply })}
              error={said("invalid_reply")}
            />
            <Field
              label={t("bot.routed_reply")}
              hint={t("bot.routed_reply_hint")}
              multiline
              rows={2}
              value={draft.routedReply}
              onChange={(routedReply) => edit({ routedReply })}
              error={said("routed_reply")}
            />
            <div className="bot-numbers">
              <Field
                label={t("bot.max_tries")}
                hint={t("bot.max_tries_hint")}
                type="number"
                min={1}
                max={10}
                inputMode="numeric"
                value={draft.maxTries}
                onChange={(maxTries) => edit({ maxTries })}
                error={said("max_tries")}
              />
              <Field
                label={t("bot.timeout")}
                hint={t("bot.timeout_hint")}
                type="number"
                min={1}
                max={1440}
                step="any"
                inputMode="decimal"
                value={draft.timeoutMin}
                onChange={(timeoutMin) => edit({ timeoutMin })}
                error={said("timeout_s")}
              />
            </div>
            <div className="admin-field">
              <label htmlFor={onTimeoutId}>{t("bot.on_timeout")}</label>
              <select
                id={onTimeoutId}
                value={draft.onTimeout}
                onChange={(e) => edit({ onTimeout: e.target.value === "close" ? "close" : "queue" })}
              >
                <option value="queue">{t("bot.on_timeout.queue")}</option>
                <option value="close">{t("bot.on_timeout.close")}</option>
              </select>
            </div>
            <div className="admin-field">
              <label htmlFor={fallbackId}>{t("bot.fallback")}</label>
              <select
                id={fallbackId}
                value={draft.fallback ?? ""}
                aria-invalid={fallbackError ? true : undefined}
                aria-describedby={`${fallbackId}-note`}
                onChange={(e) => edit({ fallback: e.target.value ? Number(e.target.value) : null })}
              >
                <option value="">{t("bot.fallback_default", { name: byDefault })}</option>
                {departments.map((d) => (
                  <option key={d.id} value={d.id}>
                    {d.name}
                  </option>
                ))}
                {!fallbackKnown && (
                  <option value={String(draft.fallback)}>{t("bot.department_gone", { id: String(draft.fallback) })}</option>
                )}
              </select>
              {fallbackError ? (
                <p className="admin-field__error" id={`${fallbackId}-note`} role="alert">
                  {fallbackError}
                </p>
              ) : (
                <p className="admin-field__hint muted small" id={`${fallbackId}-note`}>
                  {t("bot.fallback_hint")}
                </p>
              )}
            </div>
          </fieldset>
          {admin && (
            <div className="bot-form__end">
              {general && (
                <p className="error" role="alert">
                  {general}
                </p>
              )}
              {dirty && <span className="muted small">{t("bot.unsaved")}</span>}
              <button type="submit" className="primary" disabled={busy}>
                {t("bot.save")}
              </button>
            </div>
          )}
        </form>
        <BotPreview
          draft={draft}
          departments={departments}
          channelName={channel.name}
          channelDepartment={channel.department_id}
        />
      </div>
    </section>
  );
}
