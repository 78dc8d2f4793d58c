// Users (admins): who may sign in, with which role; create, change role, deactivate or
// reactivate (asked first), reset a password.
import { useCallback, useEffect, useState } from "react";
import { api, ApiError } from "../api/client";
import { useDepartments } from "../api/directory";
import type { User } from "../api/types";
import { Confirm } from "../components/Dialog";
import { messageOf } from "../components/Field";
import { PageMessages } from "../components/PageMessages";
import { dateTime, useT } from "../lib/i18n";
import { NewUser, ResetPassword, ROLE_LABEL, ROLES } from "./UserDialogs";

type Role = User["role"];

export default function Users({ me }: { me: User }) {
  const t = useT();
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [resetting, setResetting] = useState<User | null>(null);
  const [toggling, setToggling] = useState<User | null>(null);
  const departments = useDepartments();
  const departmentName = (id: number) => departments?.find((d) => d.id === id)?.name ?? `#${id}`;

  const load = useCallback(async () => {
    try {
      setUsers((await api("get", "/api/v1/users")).items);
    } catch (caught) {
      setError(t("common.error", { m: messageOf(caught) }));
    }
  }, [t]);

  useEffect(() => void load(), [load]);

  const replace = (changed: User) =>
    setUsers((current) => current?.map((u) => (u.id === changed.id ? changed : u)) ?? null);

  async function patch(user: User, body: { role?: Role; is_active?: boolean }, done: string) {
    setError(null);
    setNotice(null);
    try {
      replace(await api("patch", "/api/v1/users/{id}", { params: { id: user.id }, body }));
      setNotice(done);
    } catch (caught) {
      const lastAdmin = caught instanceof ApiError && caught.details.reason === "last_admin";
      setError(lastAdmin ? t("users.last_admin") : t("common.error", { m: messageOf(caught) }));
      void load(); // the select shows what the server kept
    }
  }

  return (
    <section className="page" aria-labelledby="users-title">
      <header className="page__head">
        <h1 id="users-title">{t("users.title")}</h1>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          {t("users.new")}
        </button>
      </header>
      <PageMessages notice={notice} error={error} />
      {users === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : (
        <div className="table-wrap">
          <table className="users-table">
            <thead>
              <tr>
                <th scope="col">{t("users.name")}</th>
                <th scope="col">{t("users.email")}</th>
                <th scope="col">{t("users.role")}</th>
                <th scope="col">{t("users.departments")}</th>
                <th scope="col">{t("users.status")}</th>
                <th scope="col">{t("users.last_login")}</th>
                <th scope="col">{t("users.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {users.map((user) => (
                <tr key={user.id} data-user={user.email} className={user.is_active ? "" : "users-row--off"}>
                  <td data-label={t("users.name")}>
                    {user.name}
                    {user.id === me.id && <span className="muted small"> ({t("users.you")})</span>}
                  </td>
                  <td data-label={t("users.email")}>{user.email}</td>
                  <td data-label={t("users.role")}>
                    <select
                      aria-label={t("users.role_of", { name: user.name })}
                      value={user.role}
                      onChange={(event) =>
                        void patch(
                          user,
                          { role: event.target.value as Role },
                          t("users.role_changed", {
                            name: user.name,
                            role: t(ROLE_LABEL[event.target.value as Role]),
                          }),
                        )
                      }
                    >
                      {ROLES.map((role) => (
                        <option key={role} value={role}>
                          {t(ROLE_LABEL[role])}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td data-label={t("users.departments")}>
                    {user.department_ids?.length ? user.department_ids.map(departmentName).join(", ") : "—"}
                  </td>
                  <td data-label={t("users.status")}>
                    <span className={`badge badge--${user.is_active ? "ok" : "bad"}`}>
                      {user.is_active ? t("users.active") : t("users.inactive")}
                    </span>
                  </td>
                  <td data-label={t("users.last_login")}>{dateTime(user.last_login_at)}</td>
                  <td className="row-actions">
                    <button type="button" className="small" onClick={() => setResetting(user)}>
                      {t("users.reset")}
                    </button>
                    <button
                      type="button"
                      className={user.is_active ? "danger small" : "small"}
                      onClick={() => setToggling(user)}
                    >
                      {user.is_active ? t("users.deactivate") : t("users.reactivate")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <NewUser
          onClose={() => setCreating(false)}
          onCreated={(user) => {
            setCreating(false);
            setUsers((current) => [...(current ?? []), user]);
            setNotice(t("users.created", { name: user.name }));
          }}
        />
      )}
      {resetting && (
        <ResetPassword
          user={resetting}
          onClose={() => setResetting(null)}
          onDone={() => {
            setNotice(t("users.reset_done", { name: resetting.name }));
            setResetting(null);
          }}
        />
      )}
      {toggling && (
        <Confirm
          text={t(toggling.is_active ? "users.confirm.deactivate" : "users.confirm.reactivate", {
            name: toggling.name,
          })}
          action={toggling.is_active ? t("users.deactivate") : t("users.reactivate")}
          danger={toggling.is_active}
          onConfirm={() =>
            void patch(
              toggling,
              { is_active: !toggling.is_active },
              t(toggling.is_active ? "users.deactivated" : "users.reactivated", { name: toggling.name }),
            )
          }
          onClose={() => setToggling(null)}
        />
      )}
    </section>
  );
}
