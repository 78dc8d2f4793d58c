// Departments (admins): the queues customers are routed to and attendants belong to. Create,
// edit (members, assignment, hours…), make one the default (where conversations go when
// nothing else says) and delete one that holds no active conversation — a refusal says why.
import { useCallback, useEffect, useState } from "react";
import { api, ApiError } from "../api/client";
import { setDepartments } from "../api/directory";
import type { Department } from "../api/types";
import { Confirm } from "../components/Dialog";
import { messageOf } from "../components/Field";
import { PageMessages } from "../components/PageMessages";
import { type Key, useT } from "../lib/i18n";
import { DepartmentDialog, MODES } from "./DepartmentDialog";
import { useHoursSummary } from "./HoursEditor";

export default function Departments() {
  const t = useT();
  const summary = useHoursSummary();
  const [list, setList] = useState<Department[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<Department | "new" | null>(null);
  const [deleting, setDeleting] = useState<Department | null>(null);
  const count = (n: number, one: Key, many: Key) => t(n === 1 ? one : many, { n });

  const show = useCallback((items: Department[]) => {
    setList(items);
    setDepartments(items); // the inbox and the chat name them too
  }, []);

  const load = useCallback(async () => {
    try {
      show((await api("get", "/api/v1/departments")).items);
    } catch (caught) {
      setError(t("common.error", { m: messageOf(caught) }));
    }
  }, [show, t]);

  useEffect(() => void load(), [load]);

  function said(caught: unknown, name: string): string {
    if (caught instanceof ApiError) {
      if (caught.details.reason === "default_department") return t("departments.is_default", { name });
      if (caught.details.reason === "department_in_use") {
        const active = typeof caught.details.active === "number" ? caught.details.active : 0;
        return t(active === 1 ? "departments.in_use_one" : "departments.in_use", { name, n: active });
      }
    }
    return t("common.error", { m: messageOf(caught) });
  }

  async function makeDefault(department: Department) {
    setError(null);
    setNotice(null);
    try {
      await api("patch", "/api/v1/departments/{id}", { params: { id: department.id }, body: { is_default: true } });
      await load(); // the former default changed too
      setNotice(t("departments.default_done", { name: department.name }));
    } catch (caught) {
      setError(said(caught, department.name));
    }
  }

  async function remove(department: Department) {
    setError(null);
    setNotice(null);
    try {
      await api("delete", "/api/v1/departments/{id}", { params: { id: department.id } });
      show((list ?? []).filter((d) => d.id !== department.id));
      setNotice(t("departments.deleted", { name: department.name }));
    } catch (caught) {
      setError(said(caught, department.name));
    }
  }

  return (
    <section className="page" aria-labelledby="departments-title">
      <header className="page__head">
        <h1 id="departments-title">{t("departments.title")}</h1>
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          {t("departments.new")}
        </button>
      </header>
      <p className="muted small">{t("departments.about")}</p>
      <PageMessages notice={notice} error={error} />
      {list === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : (
        <ul className="departments" aria-label={t("departments.title")}>
          {list.map((d) => (
            <li key={d.id} className="card department" data-department={d.name}>
              <div className="department__main">
                <h2>
                  {d.name}
                  {d.is_default && <span className="badge badge--info">{t("departments.default")}</span>}
                </h2>
                {d.description && <p className="muted small department__text">{d.description}</p>}
                <dl className="department__facts small">
                  <div>
                    <dt>{t("departments.members")}</dt>
                    <dd>{count(d.member_ids?.length ?? 0, "departments.members_one", "departments.members_n")}</dd>
                  </div>
                  <div>
                    <dt>{t("departments.assignment")}</dt>
                    <dd>
                      {t(MODES.find((m) => m.mode === d.assignment)?.label ?? "departments.mode.off")}
                      {d.assignment !== "off" && ` · ${t("departments.capacity_n", { n: d.capacity })}`}
                    </dd>
                  </div>
                  <div>
                    <dt>{t("hours.title")}</dt>
                    <dd>
                      {summary(d.hours)}
                      {d.hours !== null && <span className="muted"> ({d.timezone.replace(/_/g, " ")})</span>}
                    </dd>
                  </div>
                  {d.holidays.length > 0 && (
                    <div>
                      <dt>{t("holidays.title")}</dt>
                      <dd>{count(d.holidays.length, "departments.holidays_one", "departments.holidays_n")}</dd>
                    </div>
                  )}
                </dl>
              </div>
              <div className="row-actions">
                <button
                  type="button"
                  className="small"
                  aria-label={t("departments.edit_named", { name: d.name })}
                  onClick={() => setEditing(d)}
                >
                  {t("departments.edit")}
                </button>
                {!d.is_default && (
                  <button
                    type="button"
                    className="small"
                    aria-label={t("departments.make_default_named", { name: d.name })}
                    onClick={() => void makeDefault(d)}
                  >
                    {t("departments.make_default")}
                  </button>
                )}
                <button
                  type="button"
                  className="danger small"
                  aria-label={t("departments.delete_named", { name: d.name })}
                  onClick={() => setDeleting(d)}
                >
                  {t("departments.delete")}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {editing && (
        <DepartmentDialog
          department={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={(saved) => {
            const known = (list ?? []).some((d) => d.id === saved.id);
            setEditing(null);
            setError(null);
            show(
              known
                ? (list ?? []).map((d) => (d.id === saved.id ? saved : d))
                : [...(list ?? []), saved].sort((a, b) => a.name.localeCompare(b.name)),
            );
            setNotice(t(known ? "departments.saved" : "departments.created", { name: saved.name }));
          }}
        />
      )}
      {deleting && (
        <Confirm
          text={t("departments.confirm_delete", { name: deleting.name })}
          action={t("departments.delete")}
          danger
          onConfirm={() => void remove(deleting)}
          onClose={() => setDeleting(null)}
        />
      )}
    </section>
  );
}
