import { type FormEvent, useEffect, useState } from "react";
import { ApiError, signIn } from "../api/client";
import type { User } from "../api/types";
import { messageOf } from "../components/Field";
import { currentLocale, setLocale, useT } from "../lib/i18n";

export function Login({ onSignedIn }: { onSignedIn: (user: User) => void }) {
  const t = useT();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [waitUntil, setWaitUntil] = useState(0);
  const [now, setNow] = useState(Date.now());

  // The throttling message counts down to the moment another attempt is allowed.
  useEffect(() => {
    if (waitUntil <= now) return undefined;
    const timer = window.setTimeout(() => setNow(Date.now()), 1000);
    return () => window.clearTimeout(timer);
  }, [waitUntil, now]);

  const waiting = Math.ceil((waitUntil - now) / 1000);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const signed = await signIn(email.trim(), password);
      onSignedIn(signed.user);
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 429) {
        const seconds = caught.retryAfter ?? 30;
        setWaitUntil(Date.now() + seconds * 1000);
        setNow(Date.now());
        setError(null);
      } else if (caught instanceof ApiError && caught.code === "account_inactive") {
        setError(t("login.inactive"));
      } else if (caught instanceof ApiError && caught.status === 401) {
        setError(t("login.wrong"));
      } else {
        const message = messageOf(caught);
        setError(t("login.failed", { m: message }));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form className="card login__card" onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <p className="brand">{t("app.name")}</p>
        <h1 id="login-title">{t("login.title")}</h1>
        <label>
          {t("login.email")}
          <input
            type="email"
            name="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label>
          {t("login.password")}
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {waiting > 0 && (
          <p className="error" role="alert">
            {t("login.throttled", { s: waiting })}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || waiting > 0}>
          {busy ? t("login.busy") : t("login.submit")}
        </button>
        <button
          type="button"
          className="ghost"
          onClick={() => setLocale(currentLocale() === "en" ? "pt-BR" : "en")}
        >
          {t("nav.language")}
        </button>
      </form>
    </main>
  );
}
