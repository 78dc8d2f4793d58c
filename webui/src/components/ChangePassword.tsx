// "Change my password": proven with the current one. The answer carries a fresh sign-in (the
// change ends every other one), kept exactly as a sign-in is.
import { type FormEvent, useEffect, useState } from "react";
import { api, ApiError, rememberSignIn } from "../api/client";
import { useT } from "../lib/i18n";
import { Dialog } from "./Dialog";
import { Field, faultyField, messageOf } from "./Field";

const MIN_PASSWORD = 8;

type Props = { onClose: () => void; onChanged: () => void };

export function ChangePassword({ onClose, onChanged }: Props) {
  const t = useT();
  const [current, setCurrent] = useState("");
  const [fresh, setFresh] = useState("");
  const [again, setAgain] = useState("");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [waitUntil, setWaitUntil] = useState(0);
  const [now, setNow] = useState(Date.now());

  // Throttled: the wait counts down, and the button holds until it is over.
  useEffect(() => {
    if (waitUntil <= now) return undefined;
    const timer = window.setTimeout(() => setNow(Date.now()), 1000);
    return () => window.clearTimeout(timer);
  }, [waitUntil, now]);
  const waiting = Math.ceil((waitUntil - now) / 1000);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setGeneral(null);
    if (fresh.length < MIN_PASSWORD) {
      setErrors({ new_password: t("profile.too_short", { n: MIN_PASSWORD }) });
      return;
    }
    if (fresh !== again) {
      setErrors({ confirm: t("profile.mismatch") });
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const signed = await api("post", "/api/v1/auth/password", {
        body: { current_password: current, new_password: fresh },
      });
      rememberSignIn(signed);
      onChanged();
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 429) {
        setWaitUntil(Date.now() + (caught.retryAfter ?? 30) * 1000);
        setNow(Date.now());
      } else if (caught instanceof ApiError && caught.code === "wrong_password") {
        setErrors({ current_password: t("profile.wrong_current") });
      } else {
        const field = faultyField(caught);
        if (field === "current_password" || field === "new_password") {
          setErrors({ [field]: messageOf(caught) });
        } else {
          setGeneral(t("common.error", { m: messageOf(caught) }));
        }
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("profile.change_password")} onClose={onClose} testId="change-password">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <Field
          label={t("profile.current")}
          type="password"
          autoComplete="current-password"
          required
          value={current}
          onChange={setCurrent}
          error={errors.current_password}
        />
        <Field
          label={t("profile.new")}
          type="password"
          autoComplete="new-password"
          required
          value={fresh}
          onChange={setFresh}
          error={errors.new_password}
          hint={t("profile.too_short", { n: MIN_PASSWORD })}
        />
        <Field
          label={t("profile.confirm")}
          type="password"
          autoComplete="new-password"
          required
          value={again}
          onChange={setAgain}
          error={errors.confirm}
        />
        {general && (
          <p className="error" role="alert">
            {general}
          </p>
        )}
        {waiting > 0 && (
          <p className="error" role="alert">
            {t("login.throttled", { s: waiting })}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button type="submit" className="primary" disabled={busy || waiting > 0}>
            {t("profile.save")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
