// A number's session state as the Numbers and Monitoring pages show it: a word in the page's
// language and a tone (ok, warn, info; anything else is bad).
import { isKey, useT } from "../lib/i18n";

export function toneOf(state: string): string {
  return TONE[state] ?? "bad";
}

const TONE: Record<string, string> = {
  connected: "ok",
  reconnecting: "warn",
  starting: "warn",
  qr: "info",
  pairing: "info",
};

/** The state's word in the page's language (a state core does not name yet: as it comes). */
export function useStateLabel(): (state: string) => string {
  const t = useT();
  return (state) => {
    const key = `state.${state}`;
    return isKey(key) ? t(key) : state;
  };
}

export function StateBadge({ state, detail }: { state: string; detail: string | null }) {
  const label = useStateLabel();
  return (
    <span className={`badge badge--${toneOf(state)}`} data-state={state} title={detail ?? ""}>
      {label(state)}
    </span>
  );
}
