// Monitoring (admins): every number's session, the gateway and this core replica, live.
// One request answers the whole page; it is repeated every few seconds while the tab is
// visible, and at once when a number's session changes.
import { type ReactNode, useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import { realtime } from "../api/realtime";
import type { ChannelMonitor, CoreStats, GatewayStats, Snapshot, StateChange } from "../api/types";
import { PageMessages } from "../components/PageMessages";
import { StateBadge, toneOf, useStateLabel } from "../components/StateBadge";
import { ago, currentLocale, useT } from "../lib/i18n";
import { useNow } from "./useNow";


const REFRESH_MS = 5000;
// A burst of session notices (a reconnect is several) becomes one request.
const NOTICE_DELAY_MS = 250;

export default function Monitoring() {
  const t = useT();
  const [data, setData] = useState<Snapshot | null>(null);
  const [error, setError] = useState<string | null>(null);
  const asked = useRef(0);

  const load = useCallback(async () => {
    const ask = ++asked.current;
    try {
      const answer = await api("get", "/api/v1/monitoring");
      if (ask !== asked.current) return; // a newer answer is on its way
      setData(answer);
      setError(null);
    } catch (caught) {
      if (ask !== asked.current) return;
      setError(caught instanceof ApiError ? caught.message : String(caught));
    }
  }, []);

  useEffect(() => {
    void load();
    const visible = () => document.visibilityState === "visible";
    const interval = window.setInterval(() => {
      if (visible()) void load();
    }, REFRESH_MS);
    const onVisibility = () => {
      if (visible()) void load();
    };
    document.addEventListener("visibilitychange", onVisibility);
    let soon: number | undefined;
    const off = realtime.listen("sessions", (notice) => {
      if (notice.type !== "session.updated") return;
      window.clearTimeout(soon);
      soon = window.setTimeout(() => void load(), NOTICE_DELAY_MS);
    });
    return () => {
      off();
      window.clearInterval(interval);
      window.clearTimeout(soon);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [load]);

  return (
    <section className="page monitoring" aria-labelledby="monitoring-title">
      <header className="page__head">
        <h1 id="monitoring-title">{t("monitoring.title")}</h1>
        {data && (
          <span className="muted small" aria-live="off">
            {t("monitoring.updated", { at: clock(data.at) })}
          </span>
        )}
      </header>
      <PageMessages notice={null} error={error && t("common.error", { m: error })} />
      {data === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : (
        <>
          <h2>{t("monitoring.numbers")}</h2>
          {data.channels.length === 0 ? (
            <p className="muted">{t("monitoring.no_numbers")}</p>
          ) : (
            <div className="monitoring-grid">
              {data.channels.map((channel) => (
                <ChannelCard key={channel.id} channel={channel} minutes={data.traffic_minutes} />
              ))}
            </div>
          )}
          <div className="monitoring-grid">
            <GatewayBlock stats={data.gateway_reachable ? data.gateway : null} />
            <CoreBlock stats={data.core} minutes={data.core_minutes} />
          </div>
        </>
      )}
    </section>
  );
}

function ChannelCard({ channel, minutes }: { channel: ChannelMonitor; minutes: number }) {
  const t = useT();
  const received = sum(channel.messages_in);
  const sent = sum(channel.messages_out);
  return (
    <article
      className="card monitoring-card"
      data-session={channel.session_id}
      aria-label={channel.name}
    >
      <header className="monitoring-card__head">
        <div>
          <h3>{channel.name}</h3>
          <span className="muted small">{channel.phone ? `+${channel.phone}` : "—"}</span>
        </div>
        <StateBadge state={channel.state} detail={null} />
      </header>
      <Timeline changes={channel.timeline} />
      <dl className="monitoring-figures">
        <Figure label={t("monitoring.reconnects")} name="reconnects">
          {channel.reconnects ?? "—"}
        </Figure>
        <Figure label={t("monitoring.last_event")} name="last-event">
          {seconds(channel.last_event_age_s)}
        </Figure>
        <Figure label={t("monitoring.in", { n: minutes })} name="in">
          {received}
        </Figure>
        <Figure label={t("monitoring.out", { n: minutes })} name="out">
          {sent}
        </Figure>
      </dl>
      <Sparkline
        label={t("monitoring.traffic_chart", { n: minutes, in: received, out: sent })}
        series={[
          { values: channel.messages_in, tone: "in" },
          { values: channel.messages_out, tone: "out" },
        ]}
      />
      <p className="monitoring-legend small muted" aria-hidden="true">
        <span className="monitoring-key monitoring-key--in" /> {t("monitoring.legend_in")}{" "}
        <span className="monitoring-key monitoring-key--out" /> {t("monitoring.legend_out")}
      </p>
    </article>
  );
}

function GatewayBlock({ stats }: { stats: GatewayStats | null | undefined }) {
  const t = useT();
  return (
    <article className="card monitoring-card" aria-labelledby="monitoring-gateway">
      <h2 id="monitoring-gateway">{t("monitoring.gateway")}</h2>
      {!stats ? (
        <p className="warning" data-gateway="down">
          {t("monitoring.gateway_down")}
        </p>
      ) : (
        <dl className="monitoring-figures">
          <Figure label={t("monitoring.hosts")} name="hosts">
            {stats.hosts}
          </Figure>
          <Figure label={t("monitoring.restarts")} name="restarts">
            {stats.host_restarts}
          </Figure>
          <Figure label={t("monitoring.outbox")} name="outbox">
            {stats.outbox_depth}
          </Figure>
          <Figure label={t("monitoring.oldest")} name="oldest">
            {seconds(stats.outbox_oldest_age_s)}
          </Figure>
          <Figure label={t("monitoring.parked")} name="parked">
            {stats.parked}
          </Figure>
          <Figure label={t("monitoring.latency")} name="latency">
            {`${millis(stats.latency_p50_s)} / ${millis(stats.latency_p99_s)}`}
          </Figure>
        </dl>
      )}
    </article>
  );
}

function CoreBlock({ stats, minutes }: { stats: CoreStats; minutes: number }) {
  const t = useT();
  const ingest = stats.ingest_per_minute;
  const errors = stats.errors_per_minute;
  return (
    <article className="card monitoring-card" aria-labelledby="monitoring-core">
      <h2 id="monitoring-core">{t("monitoring.core")}</h2>
      <dl className="monitoring-figures">
        <Figure label={t("monitoring.ingest")} name="ingest">
          {ingest.at(-1) ?? 0}
        </Figure>
        <Figure label={t("monitoring.ingest_total", { n: minutes })} name="ingest-total">
          {sum(ingest)}
        </Figure>
        <Figure label={t("monitoring.sockets")} name="sockets">
          {stats.websocket_clients}
        </Figure>
        <Figure label={t("monitoring.errors_total", { n: minutes })} name="errors">
          {sum(errors)}
        </Figure>
      </dl>
      <Sparkline
        label={t("monitoring.ingest_chart", { n: minutes, total: sum(ingest) })}
        series={[
          { values: ingest, tone: "in" },
          { values: errors, tone: "bad" },
        ]}
      />
      <p className="monitoring-legend small muted" aria-hidden="true">
        <span className="monitoring-key monitoring-key--in" /> {t("monitoring.legend_events")}{" "}
        <span className="monitoring-key monitoring-key--bad" /> {t("monitoring.legend_errors")}
      </p>
      <p className="small muted">{t("monitoring.per_replica")}</p>
    </article>
  );
}

function Figure({ label, name, children }: { label: string; name: string; children: ReactNode }) {
  return (
    <div className="monitoring-figure" data-figure={name}>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** The recent states as a strip (each state as long as it lasted) and the last few changes. */
function Timeline({ changes }: { changes: StateChange[] }) {
  const t = useT();
  const label = useStateLabel();
  const now = useNow(REFRESH_MS);
  if (changes.length === 0) return <p className="muted small">{t("monitoring.no_history")}</p>;
  const times = changes.map((c) => Date.parse(c.at));
  const start = times[0] ?? now;
  const span = Math.max(1, now - start);
  return (
    <div className="monitoring-timeline">
      <svg viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true">
        {changes.map((change, i) => {
          const from = (((times[i] ?? start) - start) / span) * 100;
          const to = (((times[i + 1] ?? now) - start) / span) * 100;
          return (
            <rect
              key={`${change.at}-${i}`}
              x={from}
              width={Math.max(0.8, to - from)}
              y={0}
              height={6}
              className={`monitoring-tl--${toneOf(change.state)}`}
            >
              <title>{`${clock(change.at)} ${label(change.state)}`}</title>
            </rect>
          );
        })}
      </svg>
      <ol className="monitoring-changes small" aria-label={t("monitoring.timeline")}>
        {changes
          .slice(-4)
          .reverse()
          .map((change, i) => (
            <li key={`${change.at}-${i}`} data-state={change.state} title={change.reason ?? ""}>
              <time dateTime={change.at}>{clock(change.at)}</time> {label(change.state)}
              <span className="muted"> · {ago(change.at, now)}</span>
            </li>
          ))}
      </ol>
    </div>
  );
}

type Series = { values: number[]; tone: "in" | "out" | "bad" };

/** Small line chart, one line per series, oldest minute at the left. */
function Sparkline({ series, label }: { series: Series[]; label: string }) {
  const width = 120;
  const height = 30;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const points = (values: number[]) =>
    values
      .map((v, i) => {
        const x = values.length > 1 ? (i / (values.length - 1)) * width : 0;
        const y = height - 1 - (v / max) * (height - 2);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(" ");
  return (
    <svg
      className="monitoring-spark"
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
    >
      {series.map((s) => (
        <polyline
          key={s.tone}
          points={points(s.values)}
          className={`monitoring-spark__${s.tone}`}
          fill="none"
          vectorEffect="non-scaling-stroke"
        />
      ))}
    </svg>
  );
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString(currentLocale(), {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (value < 60) return `${Math.round(value)} s`;
  if (value < 3600) return `${Math.floor(value / 60)} min`;
  return `${Math.floor(value / 3600)} h`;
}

function millis(value: number): string {
  return `${Math.round(value * 1000)} ms`;
}
