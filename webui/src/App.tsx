// The shell: who is signed in, which page shows, the top bar. Pages load on demand, so the
// first download stays small.
import { lazy, Suspense, useCallback, useEffect, useRef, useState } from "react";
import { api, hasRefreshToken, onSignedOut, refresh, signOut } from "./api/client";
import { forgetDirectory, refreshDirectory } from "./api/directory";
import { realtime } from "./api/realtime";
import type { User } from "./api/types";
import { Bell } from "./components/Bell";
import { UserMenu } from "./components/UserMenu";
import { currentLocale, setLocale, useT } from "./lib/i18n";
import { navigate, usePath } from "./lib/router";
import { toggleTheme, useTheme } from "./lib/theme";
import { Login } from "./pages/Login";

const Numbers = lazy(() => import("./pages/Numbers"));
const Inbox = lazy(() => import("./pages/Inbox"));
const Users = lazy(() => import("./pages/Users"));
const Knowledge = lazy(() => import("./pages/Knowledge"));
const Monitoring = lazy(() => import("./pages/Monitoring"));
const Departments = lazy(() => import("./pages/Departments"));
const Team = lazy(() => import("./pages/Team"));
const Bot = lazy(() => import("./pages/Bot"));
const Tags = lazy(() => import("./pages/Tags"));

type Auth = { state: "loading" } | { state: "out" } | { state: "in"; user: User };

const STAFF = new Set(["admin", "supervisor"]);

/** Whether two readings of the signed-in user say the same (a new object re-reads the inbox). */
function same(a: User, b: User): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function here(): string {
  return location.pathname + location.search;
}

export function App() {
  const [auth, setAuth] = useState<Auth>({ state: "loading" });
  const path = usePath();

  const signedOut = useCallback(() => {
    realtime.stop();
    forgetDirectory();
    setAuth({ state: "out" });
    if (location.pathname !== "/login") {
      navigate(`/login?next=${encodeURIComponent(here())}`, true);
    }
  }, []);

  useEffect(() => onSignedOut(signedOut), [signedOut]);

  // An admin changing this user's role or departments: core says so on "me" (user.updated),
  // and the app adopts it at once — the nav follows the role, the inbox the departments.
  const signedIn = auth.state === "in" ? auth.user : null;
  const current = useRef<User | null>(null);
  current.current = signedIn;
  const signedInId = signedIn?.id ?? null;
  useEffect(() => {
    if (signedInId === null) return undefined;
    const adopt = (user: User) => {
      const known = current.current;
      if (!known || known.id !== user.id || same(known, user)) return;
      setAuth({ state: "in", user });
      refreshDirectory();
    };
    // Read again once followed (and after a resync): a change made before is in it.
    const reread = () =>
      void api("get", "/api/v1/auth/me")
        .then(adopt)
        .catch(() => undefined);
    return realtime.listen(
      "me",
      (notice) => {
        if (notice.type === "resync") reread();
        else if (notice.type === "user.updated") adopt(notice.data as unknown as User);
      },
      reread,
    );
  }, [signedInId]);

  useEffect(() => {
    void (async () => {
      if (hasRefreshToken() && (await refresh())) {
        try {
          const user = await api("get", "/api/v1/auth/me");
          realtime.start();
          setAuth({ state: "in", user });
          if (location.pathname === "/login") navigate(nextPath(), true);
          return;
        } catch {
          // fall through to the sign-in page
        }
      }
      signedOut();
    })();
  }, [signedOut]);

  if (auth.state === "loading") return <div className="splash" aria-busy="true" />;
  if (auth.state === "out" || path === "/login") {
    return (
      <Login
        onSignedIn={(user) => {
          realtime.start();
          setAuth({ state: "in", user });
          navigate(nextPath(), true);
        }}
      />
    );
  }
  return (
    <Shell
      user={auth.user}
      onLogout={() => {
        void signOut().then(signedOut);
      }}
    />
  );
}

/** The number whose bot the path shows (/numbers/3/bot), else null. */
function botOf(path: string): number | null {
  const id = Number(/^\/numbers\/(\d+)\/bot\/?$/.exec(path)?.[1]);
  return Number.isInteger(id) && id > 0 ? id : null;
}

function nextPath(): string {
  const next = new URLSearchParams(location.search).get("next");
  return next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login")
    ? next
    : "/inbox";
}

function Shell({ user, onLogout }: { user: User; onLogout: () => void }) {
  const t = useT();
  const theme = useTheme();
  const path = usePath();
  const [online, setOnline] = useState(true);
  const staff = STAFF.has(user.role);
  const botId = botOf(path);

  useEffect(() => {
    let timer: number | undefined;
    // Say "reconnecting" only when the socket has been down for a moment, not on every blip.
    const off = realtime.onStatus((up) => {
      window.clearTimeout(timer);
      if (up) setOnline(true);
      else timer = window.setTimeout(() => setOnline(realtime.online), 3000);
    });
    return () => {
      off();
      window.clearTimeout(timer);
    };
  }, []);

  useEffect(() => {
    if (path === "/" || (path.startsWith("/numbers") && !staff)) navigate("/inbox", true);
    if (path.startsWith("/knowledge") && !staff) navigate("/inbox", true);
    if (path.startsWith("/users") && user.role !== "admin") navigate("/inbox", true);
    if (path.startsWith("/departments") && user.role !== "admin") navigate("/inbox", true);
    if (path.startsWith("/tags") && user.role !== "admin") navigate("/inbox", true);
    if (path.startsWith("/team") && !staff) navigate("/inbox", true);
  }, [path, staff, user.role]);

  const link = (to: string, label: string) => (
    <a
      href={to}
      aria-current={path.startsWith(to) ? "page" : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey) return;
        event.preventDefault();
        navigate(to);
      }}
    >
      {label}
    </a>
  );

  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t("nav.skip")}
      </a>
      <header className="topbar">
        <span className="brand">{t("app.name")}</span>
        <nav aria-label="main">
          {link("/inbox", t("nav.inbox"))}
          {staff && link("/numbers", t("nav.numbers"))}
          {staff && link("/knowledge", t("knowledge.nav"))}
          {staff && link("/team", t("team.nav"))}
          {user.role === "admin" && link("/users", t("users.nav"))}
          {user.role === "admin" && link("/departments", t("departments.nav"))}
          {user.role === "admin" && link("/tags", t("tags.nav"))}
          {user.role === "admin" && link("/monitoring", t("monitoring.nav"))}
        </nav>
        <span className="spacer" />
        <Bell />
        <UserMenu user={user} />
        <button
          type="button"
          className="ghost"
          lang={currentLocale() === "en" ? "pt-BR" : "en"}
          onClick={() => setLocale(currentLocale() === "en" ? "pt-BR" : "en")}
        >
          <span className="wide-only">{t("nav.language")}</span>
          <span className="narrow-only" aria-hidden="true">
            {currentLocale() === "en" ? "PT" : "EN"}
          </span>
        </button>
        <button
          type="button"
          className="ghost"
          aria-label={theme === "dark" ? t("nav.theme.light") : t("nav.theme.dark")}
          onClick={toggleTheme}
        >
          {theme === "dark" ? "☀" : "☾"}
        </button>
        <button type="button" className="ghost" onClick={onLogout}>
          {t("nav.logout")}
        </button>
      </header>
      {!online && (
        <p className="banner" role="status">
          {t("nav.offline")}
        </p>
      )}
      <main id="main" className="content">
        <Suspense fallback={<p className="muted pad">{t("common.loading")}</p>}>
          {path.startsWith("/monitoring") ? (
            user.role === "admin" ? (
              <Monitoring />
            ) : (
              <section className="page" aria-labelledby="forbidden-title">
                <h1 id="forbidden-title">{t("monitoring.forbidden.title")}</h1>
                <p className="muted">{t("monitoring.forbidden.text")}</p>
              </section>
            )
          ) : path.startsWith("/users") && user.role === "admin" ? (
            <Users me={user} />
          ) : path.startsWith("/departments") && user.role === "admin" ? (
            <Departments />
          ) : path.startsWith("/tags") && user.role === "admin" ? (
            <Tags />
          ) : path.startsWith("/team") && staff ? (
            <Team />
          ) : path.startsWith("/knowledge") && staff ? (
            <Knowledge />
          ) : path.startsWith("/numbers") && staff ? (
            botId ? (
              <Bot key={botId} channelId={botId} me={user} />
            ) : (
              <Numbers me={user} />
            )
          ) : (
            <Inbox user={user} />
          )}
        </Suspense>
      </main>
    </div>
  );
}
