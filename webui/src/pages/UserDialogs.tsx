// The Users page's dialogs: a new user, a password reset. The API's errors show next to the
// field they name (e-mail taken, password too short), others under the form.
import { type FormEvent, useState } from "react";
import { api } from "../api/client";
import type { User } from "../api/types";
import { Dialog, FormEnd } from "../components/Dialog";
import { Field, messageOf, splitError } from "../components/Field";
import { ApiError } from "../api/client";
import { type Key, translate, useT } from "../lib/i18n";

type Role = User["role"];
export const ROLES: Role[] = ["attendant", "supervisor", "admin"];
export const ROLE_LABEL: Record<Role, Key> = {
  attendant: "users.role.attendant",
  supervisor: "users.role.supervisor",
  admin: "users.role.admin",
};

type Errors = Record<string, string>;

/** The API's words for the usual mistakes, in the page's language; others as the API says. */
function said(field: string, caught: unknown): string {
  const code = caught instanceof ApiError ? caught.code : "";
  if (field === "email") return translate(code === "conflict" ? "users.email_taken" : "users.email_invalid");
  if (field === "password") return translate("profile.too_short", { n: 8 });
  return messageOf(caught);
}

export function NewUser({ onClose, onCreated }: { onClose: () => void; onCreated: (u: User) => void }) {
  const t = useT();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<User["role"]>("attendant");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      onCreated(
        await api("post", "/api/v1/users", {
          body: { name: name.trim(), email: email.trim(), role, password },
        }),
      );
    } catch (caught) {
      const found = splitError(caught, ["name", "email", "password", "role"], said);
      setErrors(found.errors);
      setGeneral(found.general);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("users.new")} onClose={onClose} testId="new-user">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <Field label={t("users.name")} value={name} onChange={setName} error={errors.name} required />
        <Field
          label={t("users.email")}
          type="email"
          autoComplete="off"
          value={email}
          onChange={setEmail}
          error={errors.email}
          required
        />
        <div className="admin-field">
          <label htmlFor="new-user-role">{t("users.role")}</label>
          <select id="new-user-role" value={role} onChange={(e) => setRole(e.target.value as User["role"])}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t(ROLE_LABEL[r])}
              </option>
            ))}
          </select>
        </div>
        <Field
          label={t("users.password")}
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={setPassword}
          error={errors.password}
          hint={t("profile.too_short", { n: 8 })}
          required
        />
        <FormEnd error={general} busy={busy} submit={t("users.create")} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

export function ResetPassword({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: () => void }) {
  const t = useT();
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      await api("post", "/api/v1/users/{id}/password", { params: { id: user.id }, body: { password } });
      onDone();
    } catch (caught) {
      const found = splitError(caught, ["password"], said);
      setErrors(found.errors);
      setGeneral(found.general);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("users.reset_title", { name: user.name })} onClose={onClose} testId="reset-password">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <p className="muted small">{t("users.reset_hint")}</p>
        <Field
          label={t("users.new_password")}
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={setPassword}
          error={errors.password}
          required
        />
        <FormEnd error={general} busy={busy} submit={t("users.reset")} onCancel={onClose} />
      </form>
    </Dialog>
  );
}
