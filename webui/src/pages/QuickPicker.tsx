// The composer's quick replies: typing "/" (at the start or after a space) opens a list of the
// team's quick replies, narrowed by what follows — the shortcut first, then words of the text.
// ↑/↓ choose, Enter or Tab insert, Esc closes; the text goes in with {nome} and {atendente}
// filled (the customer's and the attendant's first names).
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { QuickReply } from "../api/types";
import { useT } from "../lib/i18n";

const MAX_SHOWN = 8;
let loaded: Promise<QuickReply[]> | null = null; // read once per page, when first asked

function quickReplies(): Promise<QuickReply[]> {
  loaded ??= api("get", "/api/v1/quick-replies")
    .then((list) => list.items)
    .catch(() => {
      loaded = null; // try again next time
      return [];
    });
  return loaded;
}

/** The "/word" being typed right before the caret, or null. */
export function slashAt(text: string, caret: number): { start: number; query: string } | null {
  const query = /(?:^|\s)\/([\p{L}\p{N}_-]*)$/u.exec(text.slice(0, caret))?.[1];
  if (query === undefined) return null;
  return { start: caret - query.length - 1, query };
}

function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

function firstName(name: string | null | undefined): string {
  return (name ?? "").trim().split(/\s+/)[0] ?? "";
}

/** A quick reply's text with its placeholders filled. */
export function filled(text: string, customer: string | null | undefined, attendant: string): string {
  return text.replace(/\{nome\}/gi, firstName(customer)).replace(/\{atendente\}/gi, firstName(attendant));
}

export function matching(replies: QuickReply[], query: string): QuickReply[] {
  const wanted = fold(query);
  const byShortcut = replies.filter((r) => r.shortcut.startsWith(wanted));
  const byText = replies.filter((r) => !r.shortcut.startsWith(wanted) && fold(r.text).includes(wanted));
  return [...byShortcut, ...byText].slice(0, MAX_SHOWN);
}

/** The quick replies for ``query`` (null while the picker is closed). */
export function useQuickReplies(query: string | null): QuickReply[] {
  const [all, setAll] = useState<QuickReply[] | null>(null);
  useEffect(() => {
    if (query === null || all !== null) return;
    let stopped = false;
    void quickReplies().then((list) => !stopped && setAll(list));
    return () => {
      stopped = true;
    };
  }, [query, all]);
  return query === null || all === null ? [] : matching(all, query);
}

type Props = { id: string; options: QuickReply[]; active: number; onPick: (reply: QuickReply) => void };

export function QuickPicker({ id, options, active, onPick }: Props) {
  const t = useT();
  if (options.length === 0) {
    return (
      <p className="quick-picker quick-picker--empty muted small" role="status">
        {t("composer.quick_none")}
      </p>
    );
  }
  return (
    <ul className="quick-picker" id={id} role="listbox" aria-label={t("composer.quick_label")}>
      {options.map((reply, index) => (
        <li
          key={reply.id}
          id={`${id}-${reply.id}`}
          role="option"
          aria-selected={index === active}
          className={index === active ? "quick-picker__item is-active" : "quick-picker__item"}
          // mousedown, not click: the textarea keeps its focus and caret
          onMouseDown={(event) => {
            event.preventDefault();
            onPick(reply);
          }}
        >
          <span className="quick-picker__shortcut">/{reply.shortcut}</span>
          <span className="quick-picker__text">{reply.text}</span>
        </li>
      ))}
    </ul>
  );
}
