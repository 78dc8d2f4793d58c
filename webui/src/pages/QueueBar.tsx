// The queues above the list in *Fila*: each department with how many wait and since when the
// oldest waits; choosing one narrows the list to it (kept in the URL like every filter).
import type { Queue } from "../api/types";
import { ago, useT } from "../lib/i18n";
import { useNow } from "./useNow";

type Props = { queues: Queue[] | null; chosen: number | null; onChoose: (department: number | null) => void };

export function QueueBar({ queues, chosen, onChoose }: Props) {
  const t = useT();
  const now = useNow(5000);
  if (queues === null) return null;
  if (queues.length === 0) return <p className="muted small queues__none">{t("queue.none")}</p>;
  const total = queues.reduce((sum, q) => sum + q.queued, 0);
  return (
    <div className="queues" role="group" aria-label={t("queue.label")}>
      <button type="button" className="queue" aria-pressed={chosen === null} onClick={() => onChoose(null)}>
        {t("queue.all")} <span className="queue__count">{total}</span>
      </button>
      {queues.map((q) => {
        const wait = q.waiting_since ? ago(q.waiting_since, now) : null;
        return (
          <button
            key={q.department_id}
            type="button"
            className="queue"
            data-queue={q.name}
            aria-pressed={chosen === q.department_id}
            aria-label={
              wait
                ? t("queue.described", { name: q.name, n: q.queued, wait })
                : t("queue.described_empty", { name: q.name })
            }
            onClick={() => onChoose(chosen === q.department_id ? null : q.department_id)}
          >
            {q.name} <span className="queue__count">{q.queued}</span>
            {wait && <span className="queue__wait">{wait}</span>}
          </button>
        );
      })}
    </div>
  );
}
