// The bot's live preview: a phone showing what the customer gets from the bot being edited —
// the greeting with {nome} as "Maria", then the menu exactly as the server renders it — and a
// tiny simulator: answer as Maria ("1", "2", "atendente"…) and see the next step, a sub-menu,
// "not understood" or the queue the conversation would join. It follows every keystroke.
import { type FormEvent, useEffect, useRef, useState } from "react";
import type { Department } from "../api/types";
import { WaText } from "../components/WaText";
import { type Key, useT } from "../lib/i18n";
import { type Draft, PREVIEW_NAME, type Said, type Why, play, timeoutSeconds } from "./botModel";

const QUEUE_TEXT: Record<Why, Key> = {
  chosen: "bot.queue.chosen",
  tries: "bot.queue.tries",
  person: "bot.queue.person",
  no_menu: "bot.queue.no_menu",
  bot_off: "bot.queue.bot_off",
  unset: "bot.queue.unset",
};

type Props = {
  draft: Draft;
  departments: Department[];
  channelName: string;
  /** Where the number sends conversations when its bot is off (null: the default department). */
  channelDepartment: number | null;
};

export function BotPreview({ draft, departments, channelName, channelDepartment }: Props) {
  const t = useT();
  const [answers, setAnswers] = useState<string[]>([]);
  const [typed, setTyped] = useState("");
  const chat = useRef<HTMLOListElement>(null);
  const { said, done } = play(draft, answers);
  const fallback = departments.find((d) => d.is_default);
  const nameOf = (id: number | null) =>
    (id === null ? fallback?.name : departments.find((d) => d.id === id)?.name) ?? `#${id ?? "?"}`;

  useEffect(() => {
    const box = chat.current;
    if (box) box.scrollTop = box.scrollHeight;
  }, [said.length]);

  function answer(event: FormEvent) {
    event.preventDefault();
    const text = typed.trim();
    if (!text || done) return;
    setAnswers((current) => [...current, text]);
    setTyped("");
  }

  const queueLine = (line: Extract<Said, { from: "queue" }>) =>
    t(QUEUE_TEXT[line.why], {
      name: nameOf(line.why === "bot_off" ? channelDepartment : line.department),
      n: draft.maxTries,
    });
  const minutes = timeoutSeconds(draft) / 60;

  return (
    <aside className="bot-preview" aria-labelledby="bot-preview-title">
      <h2 id="bot-preview-title">{t("bot.preview")}</h2>
      <p className="muted small">{t("bot.preview_hint", { name: PREVIEW_NAME })}</p>
      <div className="bot-phone">
        <div className="bot-phone__head">
          <span className="bot-phone__avatar" aria-hidden="true">
            {channelName.slice(0, 1).toUpperCase()}
          </span>
          <span className="bot-phone__name">{channelName}</span>
        </div>
        <ol className="bot-phone__chat" ref={chat} data-testid="bot-preview" aria-live="polite">
          {said.map((line, index) =>
            line.from === "queue" ? (
              <li key={index} className="bot-phone__note" data-from="queue">
                {queueLine(line)}
              </li>
            ) : (
              <li key={index} className={`bot-phone__msg bot-phone__msg--${line.from}`} data-from={line.from}>
                <WaText text={line.text} />
              </li>
            ),
          )}
          {done && draft.enabled && (
            <li className="bot-phone__note" data-from="note">
              {t("bot.preview_done")}
            </li>
          )}
        </ol>
        <form className="bot-phone__reply" onSubmit={answer}>
          <input
            value={typed}
            aria-label={t("bot.reply_as", { name: PREVIEW_NAME })}
            placeholder={t("bot.reply_as", { name: PREVIEW_NAME })}
            disabled={done}
            onChange={(e) => setTyped(e.target.value)}
          />
          <button type="submit" className="primary small" disabled={done || !typed.trim()}>
            {t("bot.send")}
          </button>
        </form>
      </div>
      <div className="bot-preview__end">
        {draft.enabled && !done && Number.isFinite(minutes) && minutes > 0 && (
          <p className="muted small">
            {t("bot.preview_timeout", { n: Math.round(minutes * 100) / 100, name: nameOf(draft.fallback) })}
          </p>
        )}
        {answers.length > 0 && (
          <button type="button" className="small" onClick={() => setAnswers([])}>
            {t("bot.restart")}
          </button>
        )}
      </div>
    </aside>
  );
}
