// Equipe (supervisors and admins): the queues they oversee — how many wait and for how long —
// and their people with status (online, away, offline) and load, all live: statuses from the
// presence topic, counts read again as conversations change hands.
import { useDepartments, useQueues, useTeam } from "../api/directory";
import type { Member } from "../api/types";
import { PresenceDot, usePresenceLabel } from "../components/DeskBadges";
import { ago, useT } from "../lib/i18n";
import { useNow } from "./useNow";
import { ROLE_LABEL } from "./UserDialogs";

const RANK = { online: 0, away: 1, offline: 2 } as const;

function byStatus(a: Member, b: Member): number {
  return RANK[a.status] - RANK[b.status] || a.name.localeCompare(b.name);
}

export default function Team() {
  const t = useT();
  const now = useNow(5000);
  const team = useTeam(true);
  const queues = useQueues();
  const departments = useDepartments();
  const word = usePresenceLabel();
  const nameOf = (id: number) => departments?.find((d) => d.id === id)?.name ?? `#${id}`;
  const online = team?.filter((m) => m.status === "online").length ?? 0;

  return (
    <section className="page" aria-labelledby="team-title">
      <header className="page__head">
        <h1 id="team-title">{t("team.title")}</h1>
        {team && <span className="muted small">{t("team.online_n", { n: online, total: team.length })}</span>}
      </header>
      <h2>{t("team.queues")}</h2>
      {queues === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : queues.length === 0 ? (
        <p className="muted">{t("queue.none")}</p>
      ) : (
        <ul className="queue-cards" aria-label={t("team.queues")}>
          {queues.map((q) => (
            <li key={q.department_id} className="card queue-card" data-queue={q.name}>
              <h3>{q.name}</h3>
              <p className="queue-card__count">{t("team.waiting_n", { n: q.queued })}</p>
              <p className="muted small">
                {q.waiting_since ? t("team.oldest", { wait: ago(q.waiting_since, now) }) : t("team.no_wait")}
              </p>
            </li>
          ))}
        </ul>
      )}
      <h2>{t("team.people")}</h2>
      {team === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : (
        <div className="table-wrap">
          <table className="users-table team-table">
            <thead>
              <tr>
                <th scope="col">{t("users.name")}</th>
                <th scope="col">{t("team.status")}</th>
                <th scope="col">{t("users.role")}</th>
                <th scope="col">{t("users.departments")}</th>
                <th scope="col">{t("team.open")}</th>
              </tr>
            </thead>
            <tbody>
              {[...team].sort(byStatus).map((m) => (
                <tr key={m.id} data-member={m.name} data-presence={m.status}>
                  <td data-label={t("users.name")}>{m.name}</td>
                  <td data-label={t("team.status")}>
                    <PresenceDot status={m.status} labelled={false} /> {word(m.status)}
                  </td>
                  <td data-label={t("users.role")}>{t(ROLE_LABEL[m.role])}</td>
                  <td data-label={t("users.departments")}>
                    {m.department_ids.length ? m.department_ids.map(nameOf).join(", ") : "—"}
                  </td>
                  <td data-label={t("team.open")} className="team-table__open">
                    {m.open}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
