// The filter bar above the conversation list: department, assignee, number and "unread only".
// The choices come from what the API lets this user read: anyone lists the numbers; only
// admins list users, so the others pick between "mine" and "unassigned".
import { type ReactNode, useEffect, useState } from "react";
import { api } from "../api/client";
import type { Channel, User } from "../api/types";
import { useT } from "../lib/i18n";
import { type Assignee, type Filters, filtering } from "./inboxQuery";

type Choices = { channels: Channel[]; people: User[]; departments: number[] };

function useChoices(me: User): Choices {
  const [channels, setChannels] = useState<Channel[]>([]);
  const [people, setPeople] = useState<User[]>([]);
  useEffect(() => {
    let stopped = false;
    void api("get", "/api/v1/channels")
      .then((list) => !stopped && setChannels(list.items))
      .catch(() => undefined);
    if (me.role === "admin") {
      void api("get", "/api/v1/users")
        .then((list) => !stopped && setPeople(list.items.filter((u) => u.is_active && u.id !== me.id)))
        .catch(() => undefined);
    }
    return () => {
      stopped = true;
    };
  }, [me.id, me.role]);
  // No route names departments: the ones anyone on the desk belongs to, by number.
  const departments = [...new Set([...(me.department_ids ?? []), ...people.flatMap((u) => u.department_ids ?? [])])];
  return { channels, people, departments: departments.sort((a, b) => a - b) };
}

function assigneeOf(value: string): Assignee {
  if (value === "me" || value === "none") return value;
  return value ? Number(value) : null;
}

export function InboxFilters({
  me,
  filters,
  onChange,
  children,
}: {
  me: User;
  filters: Filters;
  onChange: (patch: Partial<Filters>) => void;
  children?: ReactNode;
}) {
  const t = useT();
  const { channels, people, departments } = useChoices(me);
  return (
    <div className="inbox-x-filters">
      {departments.length > 0 && (
        <select
          aria-label={t("inbox.filter.department")}
          value={filters.department ?? ""}
          onChange={(e) => onChange({ department: Number(e.target.value) || null })}
        >
          <option value="">{t("inbox.filter.any_department")}</option>
          {departments.map((d) => (
            <option key={d} value={d}>
              {t("inbox.filter.department_n", { n: d })}
            </option>
          ))}
        </select>
      )}
      <select
        aria-label={t("inbox.filter.assignee")}
        value={filters.assignee ?? ""}
        onChange={(e) => onChange({ assignee: assigneeOf(e.target.value) })}
      >
        <option value="">{t("inbox.filter.anyone")}</option>
        <option value="me">{t("inbox.filter.mine")}</option>
        <option value="none">{t("inbox.filter.unassigned")}</option>
        {people.map((u) => (
          <option key={u.id} value={u.id}>
            {u.name}
          </option>
        ))}
      </select>
      <select
        aria-label={t("inbox.filter.channel")}
        value={filters.channel ?? ""}
        onChange={(e) => onChange({ channel: Number(e.target.value) || null })}
      >
        <option value="">{t("inbox.filter.any_channel")}</option>
        {channels.map((c) => (
          <option key={c.id} value={c.id}>
            {c.phone ? `${c.name} (+${c.phone})` : c.name}
          </option>
        ))}
      </select>
      <button
        type="button"
        className="inbox-x-chip"
        aria-pressed={filters.unread}
        onClick={() => onChange({ unread: !filters.unread })}
      >
        {t("inbox.filter.unread")}
      </button>
      {filtering(filters) && (
        <button
          type="button"
          className="ghost inbox-x-clear"
          onClick={() => onChange({ department: null, assignee: null, channel: null, unread: false })}
        >
          {t("inbox.filter.clear")}
        </button>
      )}
      {children}
    </div>
  );
}
