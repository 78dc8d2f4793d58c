// The composer's quick replies: typing "/" (at the start or after a space) opens a list of the
// team's quick replies, narrowed by what follows — the shortcut first, then words of the text.
// ↑/↓ choose, Enter or Tab insert, Esc closes; the text goes in with {nome} and {atendente}
// filled (the customer's and the attendant's first names). The list itself (PickerList) also
// shows the colleagues a note can mention.
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { QuickReply } from "../api/types";
import { useT } from "../lib/i18n";

const MAX_SHOWN = 8;
// The list as last read (shared by the page's composers); read again each time a picker opens,
// so a quick reply written meanwhile on the Knowledge page is there.
let known: QuickReply[] | null = null;

function quickReplies(): Promise<QuickReply[]> {
  return api("get", "/api/v1/quick-replies")
    .then((list) => (known = list.items))
    .catch(() => known ?? []);
}

export type Token = { start: number; query: string };

/** The "/word" being typed right before the caret, or null. */
export function slashAt(text: string, caret: number): Token | null {
  return tokenAt(text, caret, /(?:^|\s)\/([\p{L}\p{N}_-]*)$/u);
}

/** What ``pattern`` (a mark and its group, anchored at the caret) finds before the caret. */
export function tokenAt(text: string, caret: number, pattern: RegExp): Token | null {
  const query = pattern.exec(text.slice(0, caret))?.[1];
  if (query === undefined) return null;
  return { start: caret - query.length - 1, query };
}

export function fold(text: string): string {
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
  const open = query !== null;
  const [all, setAll] = useState<QuickReply[] | null>(known);
  useEffect(() => {
    if (!open) return undefined;
    let stopped = false;
    void quickReplies().then((list) => !stopped && setAll(list));
    return () => {
      stopped = true;
    };
  }, [open]);
  return query === null || all === null ? [] : matching(all, query);
}

export type Choice = { id: number; label: string; detail?: string };

type ListProps = {
  id: string;
  label: string;
  empty: string;
  options: Choice[];
  active: number;
  onPick: (index: number) => void;
};

/** A list of choices under the composer's caret (quick replies, colleagues to mention). */
export function PickerList({ id, label, empty, options, active, onPick }: ListProps) {
  if (options.length === 0) {
    return (
      <p className="quick-picker quick-picker--empty muted small" role="status">
        {empty}
      </p>
    );
  }
  return (
    <ul className="quick-picker" id={id} role="listbox" aria-label={label}>
      {options.map((option, index) => (
        <li
          key={option.id}
          id={`${id}-${option.id}`}
          role="option"
          aria-selected={index === active}
          className={index === active ? "quick-picker__item is-active" : "quick-picker__item"}
          // mousedown, not click: the textarea keeps its focus and caret
          onMouseDown={(event) => {
            event.preventDefault();
            onPick(index);
          }}
        >
          <span className="quick-picker__shortcut">{option.label}</span>
          {option.detail && <span className="quick-picker__text">{option.detail}</span>}
        </li>
      ))}
    </ul>
  );
}

type Props = { id: string; options: QuickReply[]; active: number; onPick: (reply: QuickReply) => void };

export function QuickPicker({ id, options, active, onPick }: Props) {
  const t = useT();
  return (
    <PickerList
      id={id}
      label={t("composer.quick_label")}
      empty={t("composer.quick_none")}
      options={options.map((reply) => ({ id: reply.id, label: `/${reply.shortcut}`, detail: reply.text }))}
      active={active}
      onPick={(index) => {
        const reply = options[index];
        if (reply) onPick(reply);
      }}
    />
  );
}
