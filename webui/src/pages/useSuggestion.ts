// The copilot's draft for the open conversation: the latest one from the API, then live
// (suggestion.delta streams text in, suggestion.created brings the finished draft,
// suggestion.updated says it failed or was cancelled); the API is asked again whenever the
// live connection is (re)established, and never undoes what a newer notice said. What the
// attendant does with it (used as is, edited, dismissed) is reported back.
import { useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import { type Notice, realtime } from "../api/realtime";
import type { SuggestionOut } from "../api/types";
import { messageOf } from "../components/Field";

export type Suggestion = {
  id: number;
  text: string;
  state: SuggestionOut["state"];
  error: string | null;
  errorCode: string | null;
};

function shown(out: SuggestionOut): Suggestion | null {
  if (out.outcome) return null; // already used, edited, dismissed or ignored
  if (out.state === "cancelled") return null;
  return {
    id: out.id,
    text: out.text,
    state: out.state,
    error: out.error ?? null,
    errorCode: out.error_code ?? null,
  };
}

export function useSuggestion(conversationId: number) {
  const [suggestion, setSuggestion] = useState<Suggestion | null>(null);
  const used = useRef<{ id: number; text: string } | null>(null);
  // The newest draft a notice told of: an answer from the API that was read before it
  // (answers and notices travel apart and may arrive in either order) must not undo it.
  const noticed = useRef({ id: 0, final: false });
  const fromApi = (out: SuggestionOut) => {
    const final = out.state !== "pending" && out.state !== "streaming";
    const last = noticed.current;
    if (out.id > last.id || (out.id === last.id && final && !last.final)) setSuggestion(shown(out));
  };

  useEffect(() => {
    let stopped = false;
    noticed.current = { id: 0, final: false };
    const load = () =>
      api("get", "/api/v1/conversations/{id}/suggestion", { params: { id: conversationId } })
        .then((out) => !stopped && fromApi(out))
        .catch((caught: unknown) => {
          if (!(caught instanceof ApiError && caught.status === 404)) console.warn(caught);
        });
    const onNotice = (notice: Notice) => {
      if (notice.type === "resync") void load();
      if (!notice.type.startsWith("suggestion.")) return;
      const data = notice.data;
      const id = Number(data.suggestion_id ?? data.id);
      const last = noticed.current;
      if (id < last.id || (id === last.id && last.final)) return;
      if (notice.type === "suggestion.delta") {
        noticed.current = { id, final: false };
        const delta = typeof data.delta === "string" ? data.delta : "";
        setSuggestion((current) =>
          current?.id === id
            ? { ...current, text: current.text + delta, state: "streaming" }
            : { id, text: delta, state: "streaming", error: null, errorCode: null },
        );
      } else {
        noticed.current = { id, final: true };
        setSuggestion(shown(data as unknown as SuggestionOut));
      }
    };
    setSuggestion(null);
    void load(); // at once, in case the live connection is down; again once subscribed
    const off = realtime.listen(`conversation:${conversationId}`, onNotice, () => void load());
    return () => {
      stopped = true;
      off();
    };
  }, [conversationId]);

  const feedback = (id: number, outcome: "accepted" | "edited" | "dismissed", finalText?: string) =>
    api("post", "/api/v1/suggestions/{id}/feedback", {
      params: { id },
      body: outcome === "edited" ? { outcome, final_text: finalText ?? "" } : { outcome },
    }).catch(() => undefined);

  return {
    suggestion,
    /** "Use": the text goes to the composer; what is sent later says accepted or edited. */
    use(): string | null {
      if (!suggestion) return null;
      used.current = { id: suggestion.id, text: suggestion.text };
      return suggestion.text;
    },
    dismiss() {
      if (suggestion) void feedback(suggestion.id, "dismissed");
      setSuggestion(null);
    },
    regenerate() {
      setSuggestion((current) => (current ? { ...current, text: "", state: "pending" } : null));
      api("post", "/api/v1/conversations/{id}/suggestions", { params: { id: conversationId } })
        .then(fromApi)
        .catch((caught: unknown) =>
          setSuggestion({
            id: 0,
            text: "",
            state: "failed",
            error: messageOf(caught),
            errorCode: caught instanceof ApiError ? caught.code : null,
          }),
        );
    },
    /** Called with what the attendant sent: reports the draft's fate, once. */
    sent(text: string) {
      const draft = used.current;
      used.current = null;
      if (!draft) return;
      const same = draft.text.trim() === text.trim();
      void feedback(draft.id, same ? "accepted" : "edited", same ? undefined : text);
      setSuggestion((current) => (current?.id === draft.id ? null : current));
    },
  };
}
