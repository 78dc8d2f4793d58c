// The filter bar above the conversation list: department, number, tag and "unread only"; in *Todos*
// (supervisors and admins) also the status and the assignee. The choices come from what the
// API lets this user read: anyone lists the numbers, the departments and everyone's name (the
// people to pick an assignee from). In *Fila* the queues above the list choose the department.
import { type ReactNode, useEffect, useState } from "react";
import { api } from "../api/client";
import { useDepartments, usePeople, useTags } from "../api/directory";
import type { Channel, Department, Person, User } from "../api/types";
import { useT } from "../lib/i18n";
import { type Assignee, type Filters, STATUS_CHOICES, type StatusChoice, filtering } from "./inboxQuery";

type Choices = { channels: Channel[]; people: Person[]; departments: Department[] };

function useChoices(me: User): Choices {
  const [channels, setChannels] = useState<Channel[]>([]);
  useEffect(() => {
    let stopped = false;
    void api("get", "/api/v1/channels")
      .then((list) => !stopped && setChannels(list.items))
      .catch(() => undefined);
    return () => {
      stopped = true;
    };
  }, []);
  const people = (usePeople() ?? [])
    .filter((p) => p.is_active && p.id !== me.id)
    .sort((a, b) => a.name.localeCompare(b.name));
  // The departments whose conversations this user sees: every one for admins.
  const all = useDepartments() ?? [];
  const mine = new Set(me.department_ids ?? []);
  const departments = me.role === "admin" ? all : all.filter((d) => mine.has(d.id));
  return { channels, people, departments };
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
  const tags = useTags().list ?? [];
  const overseeing = filters.tab === "all";
  return (
    <div className="inbox-x-filters">
      {overseeing && (
        <select
          aria-label={t("inbox.filter.status")}
          value={filters.status ?? ""}
          onChange={(e) => onChange({ status: (e.target.value || null) as StatusChoice | null })}
        >
          <option value="">{t("inbox.filter.any_status")}</option>
          {STATUS_CHOICES.map((x) => (
            <option key={x.choice} value={x.choice}>
              {t(x.label)}
            </option>
          ))}
        </select>
      )}
      {filters.tab !== "queued" && departments.length > 1 && (
        <select
          aria-label={t("inbox.filter.department")}
          value={filters.department ?? ""}
          onChange={(e) => onChange({ department: Number(e.target.value) || null })}
        >
          <option value="">{t("inbox.filter.any_department")}</option>
          {departments.map((d) => (
            <option key={d.id} value={d.id}>
              {d.name}
            </option>
          ))}
        </select>
      )}
      {overseeing && (
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
      )}
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
      {(tags.length > 0 || filters.tag) && (
        <select
          aria-label={t("inbox.filter.tag")}
          value={filters.tag ?? ""}
          onChange={(e) => onChange({ tag: Number(e.target.value) || null })}
        >
          <option value="">{t("inbox.filter.any_tag")}</option>
          {tags.map((tag) => (
            <option key={tag.id} value={tag.id}>
              {tag.name}
            </option>
          ))}
        </select>
      )}
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
          onClick={() =>
            onChange({ department: null, assignee: null, status: null, channel: null, tag: null, unread: false })
          }
        >
          {t("inbox.filter.clear")}
        </button>
      )}
      {children}
    </div>
  );
}
