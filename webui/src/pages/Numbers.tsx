// Numbers (supervisors and admins): every linked WhatsApp number with its live state, and the
// way to its bot (admins edit it, supervisors see it).
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import { realtime } from "../api/realtime";
import type { Channel, User } from "../api/types";
import { Confirm } from "../components/Dialog";
import { PageMessages } from "../components/PageMessages";
import { StateBadge } from "../components/StateBadge";
import { messageOf } from "../components/Field";
import { ago, dateTime, type Key, useT } from "../lib/i18n";
import { navigate } from "../lib/router";
import { AddNumber } from "./AddNumber";
import { useNow } from "./useNow";

type Action = "restart" | "logout" | "delete";

export default function Numbers({ me }: { me: User }) {
  const t = useT();
  const admin = me.role === "admin";
  const now = useNow(5000);
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [reachable, setReachable] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [confirm, setConfirm] = useState<{ action: Action; channel: Channel } | null>(null);
  const reloadTimer = useRef<number | undefined>(undefined);

  const load = useCallback(async () => {
    try {
      const list = await api("get", "/api/v1/channels");
      setChannels(list.items);
      setReachable(list.gateway_reachable);
      setError(null);
    } catch (caught) {
      setError(messageOf(caught));
    }
  }, []);

  useEffect(() => {
    void load();
    const off = realtime.listen("sessions", (notice) => {
      if (notice.type === "session.updated") {
        const changed = notice.data as unknown as Channel;
        setChannels((current) => {
          if (!current) return current;
          const found = current.some((c) => c.id === changed.id);
          const merged = { ...changed, detail: null, connected_since: null, live: false };
          return found
            ? current.map((c) => (c.id === changed.id ? { ...c, ...changed } : c))
            : [...current, merged];
        });
      }
      // The gateway's view (connected since, detail) follows shortly after: fetch it once.
      window.clearTimeout(reloadTimer.current);
      if (notice.type !== "session.qr") {
        reloadTimer.current = window.setTimeout(() => void load(), 400);
      }
    });
    return () => {
      off();
      window.clearTimeout(reloadTimer.current);
    };
  }, [load]);

  async function run(action: Action, channel: Channel) {
    try {
      if (action === "delete") {
        await api("delete", "/api/v1/channels/{id}", { params: { id: channel.id } });
        setChannels((current) => current?.filter((c) => c.id !== channel.id) ?? null);
      } else {
        const path =
          action === "restart" ? "/api/v1/channels/{id}/restart" : "/api/v1/channels/{id}/logout";
        const updated = await api("post", path, { params: { id: channel.id } });
        setChannels((current) => current?.map((c) => (c.id === updated.id ? updated : c)) ?? null);
      }
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : String(caught));
    }
  }

  const confirmText: Record<Action, Key> = {
    restart: "numbers.confirm.reconnect",
    logout: "numbers.confirm.logout",
    delete: "numbers.confirm.delete",
  };
  const actionLabel: Record<Action, Key> = {
    restart: "numbers.reconnect",
    logout: "numbers.logout",
    delete: "numbers.delete",
  };

  return (
    <section className="page" aria-labelledby="numbers-title">
      <header className="page__head">
        <h1 id="numbers-title">{t("numbers.title")}</h1>
        <button type="button" className="primary" onClick={() => setAdding(true)}>
          {t("numbers.add")}
        </button>
      </header>
      <PageMessages notice={notice} error={error && t("common.error", { m: error })} />
      {!reachable && <p className="warning">{t("numbers.gateway_down")}</p>}
      {channels === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : channels.length === 0 ? (
        <p className="muted">{t("numbers.empty")}</p>
      ) : (
        <div className="table-wrap">
          <table className="numbers">
            <thead>
              <tr>
                <th scope="col">{t("numbers.name")}</th>
                <th scope="col">{t("numbers.phone")}</th>
                <th scope="col">{t("numbers.state")}</th>
                <th scope="col">{t("numbers.since")}</th>
                <th scope="col">{t("numbers.last_event")}</th>
                <th scope="col">{t("numbers.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {channels.map((channel) => (
                <tr key={channel.id} data-session={channel.session_id}>
                  <td data-label={t("numbers.name")}>{channel.name}</td>
                  <td data-label={t("numbers.phone")}>{channel.phone ? `+${channel.phone}` : "—"}</td>
                  <td data-label={t("numbers.state")}>
                    <StateBadge state={channel.status} detail={channel.detail ?? null} />
                  </td>
                  <td data-label={t("numbers.since")}>{dateTime(channel.connected_since)}</td>
                  <td data-label={t("numbers.last_event")}>{ago(channel.status_at, now)}</td>
                  <td className="row-actions">
                    <button
                      type="button"
                      className="small"
                      aria-label={t("bot.open_named", { name: channel.name })}
                      title={admin ? undefined : t("bot.read_only")}
                      onClick={() => navigate(`/numbers/${channel.id}/bot`)}
                    >
                      {t("bot.open")}
                    </button>
                    {(["restart", "logout", "delete"] as const).map((action) => (
                      <button
                        key={action}
                        type="button"
                        className={action === "delete" ? "danger small" : "small"}
                        onClick={() => setConfirm({ action, channel })}
                      >
                        {t(actionLabel[action])}
                      </button>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {adding && (
        <AddNumber
          onClose={() => setAdding(false)}
          onLinked={(channel) => {
            setAdding(false);
            setNotice(t("numbers.linked", { name: channel.name }));
            void load();
          }}
        />
      )}
      {confirm && (
        <Confirm
          text={t(confirmText[confirm.action], { name: confirm.channel.name })}
          action={t(actionLabel[confirm.action])}
          danger={confirm.action !== "restart"}
          onConfirm={() => void run(confirm.action, confirm.channel)}
          onClose={() => setConfirm(null)}
        />
      )}
    </section>
  );
}
