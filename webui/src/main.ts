import "./style.css";

const REFRESH_MS = 5000;
const TIMEOUT_MS = 4000;

type Readiness = { ok: true } | { ok: false; message: string };

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`elemento #${id} não encontrado`);
  return el;
}

const statusEl = byId("status");
const labelEl = byId("status-label");
const messageEl = byId("status-message");
const checkedEl = byId("status-checked");

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

// Reads the 503 body shape {"error": {"message": "..."}}; falls back to the HTTP status.
function errorMessage(body: unknown, httpStatus: number): string {
  if (isRecord(body) && isRecord(body.error) && typeof body.error.message === "string") {
    return body.error.message;
  }
  if (isRecord(body) && typeof body.status === "string") {
    return `Estado informado: ${body.status}`;
  }
  return `O servidor respondeu com HTTP ${httpStatus}.`;
}

async function checkReadiness(): Promise<Readiness> {
  try {
    const res = await fetch("/readyz", {
      cache: "no-store",
      headers: { Accept: "application/json" },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body: unknown = await res.json().catch(() => null);
    if (res.ok && isRecord(body) && body.status === "ready") return { ok: true };
    return { ok: false, message: errorMessage(body, res.status) };
  } catch {
    return { ok: false, message: "Não foi possível contatar o servidor." };
  }
}

function render(result: Readiness): void {
  statusEl.classList.remove("status--loading", "status--ok", "status--error");
  statusEl.classList.add(result.ok ? "status--ok" : "status--error");
  labelEl.textContent = result.ok ? "Pronto" : "Indisponível";
  messageEl.hidden = result.ok;
  messageEl.textContent = result.ok ? "" : result.message;
  const time = new Date().toLocaleTimeString("pt-BR");
  checkedEl.textContent = `Última verificação: ${time}`;
}

// A new check starts only after the previous one finished, so slow answers never pile up.
async function loop(): Promise<void> {
  render(await checkReadiness());
  window.setTimeout(() => void loop(), REFRESH_MS);
}

void loop();
