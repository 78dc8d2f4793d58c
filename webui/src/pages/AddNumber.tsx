// Linking a number: name it, then scan the live QR (it follows WhatsApp's rotation, with a
// countdown) or ask for a pairing code for a phone number. Closes itself once connected.
import { type FormEvent, useEffect, useRef, useState } from "react";
import { api, ApiError, authorized } from "../api/client";
import { realtime } from "../api/realtime";
import type { Channel, PairCode } from "../api/types";
import { Dialog } from "../components/Dialog";
import { messageOf } from "../components/Field";
import { useT } from "../lib/i18n";
import { useNow } from "./useNow";

type Code = { code: string; expiresAt: number; svg: string };

const QR_RETRY_MS = 1000;

export function AddNumber({ onClose, onLinked }: { onClose: () => void; onLinked: (c: Channel) => void }) {
  const t = useT();
  const [name, setName] = useState("");
  const [channel, setChannel] = useState<Channel | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function create(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setChannel(await api("post", "/api/v1/channels", { body: { name: name.trim() } }));
    } catch (caught) {
      setError(messageOf(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("add.title")} onClose={onClose} testId="add-number">
      {channel === null ? (
        <form onSubmit={(e) => void create(e)} className="stack">
          <label>
            {t("add.name")}
            <input
              required
              maxLength={80}
              placeholder={t("add.name_hint")}
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </label>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <div className="actions">
            <button type="submit" className="primary" disabled={busy || !name.trim()}>
              {t("add.start")}
            </button>
          </div>
        </form>
      ) : (
        <Linking channel={channel} onLinked={onLinked} />
      )}
    </Dialog>
  );
}

function Linking({ channel, onLinked }: { channel: Channel; onLinked: (c: Channel) => void }) {
  const t = useT();
  const now = useNow(500);
  const [qr, setQr] = useState<Code | null>(null);
  const [wanted, setWanted] = useState(1); // bumped to fetch the QR (again)
  const [mode, setMode] = useState<"qr" | "code">("qr");
  const [error, setError] = useState<string | null>(null);

  // Fetch the current QR (its code, expiry and SVG); the gateway may need a moment for the
  // first one, so a "no QR yet" answer is retried.
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const fetchQr = async () => {
      try {
        const data = await api("get", "/api/v1/channels/{id}/qr", { params: { id: channel.id } });
        const image = await authorized(`/api/v1/channels/${channel.id}/qr?format=svg`);
        const svg = URL.createObjectURL(await image.blob());
        if (stopped) return;
        setQr((old) => {
          if (old) URL.revokeObjectURL(old.svg);
          return { code: data.code, expiresAt: Date.parse(data.expires_at), svg };
        });
        setError(null);
      } catch (caught) {
        if (stopped) return;
        if (caught instanceof ApiError && caught.status === 404) {
          timer = window.setTimeout(() => void fetchQr(), QR_RETRY_MS);
        } else {
          setError(messageOf(caught));
        }
      }
    };
    void fetchQr();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [channel.id, wanted]);

  const linked = useRef(onLinked);
  linked.current = onLinked;
  useEffect(
    () =>
      realtime.listen("sessions", (notice) => {
        const data = notice.data;
        if (notice.type === "session.qr" && data.channel_id === channel.id && data.kind === "qr") {
          setWanted((n) => n + 1);
        }
        if (notice.type === "session.updated" && data.id === channel.id && data.status === "connected") {
          linked.current({ ...channel, ...(data as unknown as Channel) });
        }
      }),
    [channel],
  );

  const left = qr ? Math.max(0, Math.ceil((qr.expiresAt - now) / 1000)) : 0;

  async function retry() {
    setQr(null);
    try {
      await api("post", "/api/v1/channels/{id}/restart", { params: { id: channel.id } });
    } catch (caught) {
      setError(messageOf(caught));
    }
    setWanted((n) => n + 1);
  }

  if (mode === "code") return <PairByCode channel={channel} onBack={() => setMode("qr")} />;
  return (
    <div className="stack linking">
      <p>{t("add.scan")}</p>
      <div className="qr" data-code={qr && left > 0 ? qr.code : ""}>
        {qr === null ? (
          <p className="muted">{t("add.waiting")}</p>
        ) : left > 0 ? (
          <img src={qr.svg} alt={t("add.qr_alt")} width={240} height={240} />
        ) : (
          <div className="qr__expired" role="status">
            <p>{t("add.expired")}</p>
            <button type="button" className="primary" onClick={() => void retry()}>
              {t("add.retry")}
            </button>
          </div>
        )}
      </div>
      {qr && left > 0 && (
        <p className="muted countdown" aria-live="off">
          {t("add.expires", { s: left })}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="button" className="link" onClick={() => setMode("code")}>
        {t("add.use_code")}
      </button>
    </div>
  );
}

function PairByCode({ channel, onBack }: { channel: Channel; onBack: () => void }) {
  const t = useT();
  const [phone, setPhone] = useState("");
  const [code, setCode] = useState<PairCode | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function ask(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      setCode(
        await api("post", "/api/v1/channels/{id}/pair-code", {
          params: { id: channel.id },
          body: { phone: phone.replace(/\D/g, "") },
        }),
      );
    } catch (caught) {
      setError(messageOf(caught));
    }
  }

  return (
    <form className="stack" onSubmit={(e) => void ask(e)}>
      <label>
        {t("add.phone")}
        <input
          inputMode="numeric"
          autoComplete="tel"
          required
          pattern="[0-9 +\(\)\-]{8,20}"
          value={phone}
          onChange={(e) => setPhone(e.target.value)}
        />
      </label>
      {code && (
        <div className="paircode">
          <p>{t("add.code_hint")}</p>
          <p className="paircode__code" data-testid="pair-code">
            {code.code}
          </p>
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={onBack}>
          {t("add.use_qr")}
        </button>
        <button type="submit" className="primary">
          {t("add.get_code")}
        </button>
      </div>
    </form>
  );
}
