// The copilot's suggestion for the last customer message, streamed in as it is written.
// Its buttons exist only while there is a suggestion.
import { useT } from "../lib/i18n";
import type { Suggestion } from "./useSuggestion";

type Props = {
  suggestion: Suggestion | null;
  onUse: () => void;
  onRegenerate: () => void;
  onDismiss: () => void;
};

export function Copilot({ suggestion, onUse, onRegenerate, onDismiss }: Props) {
  const t = useT();
  const writing = suggestion?.state === "pending" || suggestion?.state === "streaming";
  return (
    <aside className="copilot" aria-label={t("copilot.title")} data-testid="copilot">
      <h3>{t("copilot.title")}</h3>
      {!suggestion ? (
        <p className="muted small">{t("copilot.none")}</p>
      ) : suggestion.state === "failed" ? (
        <>
          {suggestion.errorCode === "nothing_to_suggest" ? (
            <p className="muted small">{t("copilot.nothing")}</p>
          ) : (
            <p className="error small" title={suggestion.error ?? ""}>
              {t("copilot.failed")}
            </p>
          )}
          <div className="actions">
            <button type="button" className="small" onClick={onRegenerate}>
              {t("copilot.regenerate")}
            </button>
          </div>
        </>
      ) : (
        <>
          <p className="copilot__text" aria-busy={writing} data-state={suggestion.state}>
            {suggestion.text || t("copilot.writing")}
          </p>
          <div className="actions">
            <button type="button" className="primary small" onClick={onUse} disabled={!suggestion.text}>
              {t("copilot.use")}
            </button>
            <button type="button" className="small" onClick={onRegenerate}>
              {t("copilot.regenerate")}
            </button>
            <button type="button" className="small" onClick={onDismiss}>
              {t("copilot.dismiss")}
            </button>
          </div>
        </>
      )}
    </aside>
  );
}
