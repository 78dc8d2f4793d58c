// Mentions in private notes: "@" (at the start or after a space) opens the list of colleagues
// who may see the conversation, narrowed by the name typed after it (up to three words); the
// name chosen goes in as "@Name ". A note says whom it mentions by id too, for those whose
// "@Name" is still in its text when it is saved.
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { Person } from "../api/types";
import { fold, type Token, tokenAt } from "./QuickPicker";

const MAX_SHOWN = 8;
const MENTION = /(?:^|\s)@((?:[\p{L}\p{N}_.'-]+ ){0,2}[\p{L}\p{N}_.'-]*)$/u;

/** The "@name" being typed right before the caret, or null. */
export function mentionAt(text: string, caret: number): Token | null {
  return tokenAt(text, caret, MENTION);
}

/** Colleagues whose name fits what was typed: those it starts first. */
export function fitting(people: Person[], query: string): Person[] {
  const wanted = fold(query.trim());
  const first = people.filter((p) => fold(p.name).startsWith(wanted));
  const rest = people.filter((p) => !fold(p.name).startsWith(wanted) && fold(p.name).includes(wanted));
  return [...first, ...rest].slice(0, MAX_SHOWN);
}

/** Who may be mentioned in this conversation's notes, read when first asked (query not null). */
export function useMentionable(conversationId: number, query: string | null): Person[] {
  const [known, setKnown] = useState<{ id: number; people: Person[] } | null>(null);
  const have = known?.id === conversationId;
  useEffect(() => {
    if (query === null || have) return;
    let stopped = false;
    void api("get", "/api/v1/conversations/{id}/mentionable", { params: { id: conversationId } })
      .then((list) => !stopped && setKnown({ id: conversationId, people: list.items }))
      .catch(() => undefined);
    return () => {
      stopped = true;
    };
  }, [conversationId, query, have]);
  return query === null || !have ? [] : fitting(known.people, query);
}

/** The ids of those picked whose "@Name" the text still holds. */
export function stillMentioned(text: string, picked: Map<number, string>): number[] {
  const folded = fold(text);
  return [...picked].filter(([, name]) => folded.includes(fold(`@${name}`))).map(([id]) => id);
}

/** A note's text in pieces, the mentions of ``names`` marked (longest name first). */
export function withMentions(text: string, names: string[]): { text: string; mention: boolean }[] {
  const known = [...new Set(names.filter(Boolean))].sort((a, b) => b.length - a.length);
  if (known.length === 0) return [{ text, mention: false }];
  const escaped = known.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(@(?:${escaped.join("|")}))(?![\\p{L}\\p{N}_])`, "iu");
  // Split by a pattern with one group: the pieces between mentions and the mentions alternate.
  return text
    .split(pattern)
    .map((piece, index) => ({ text: piece, mention: index % 2 === 1 }))
    .filter((piece) => piece.text !== "");
}
