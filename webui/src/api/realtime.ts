// One websocket per tab. It asks for a single-use ticket, subscribes to the topics the open
// pages want, and on reconnect passes the last seq it saw so core replays what was missed
// (or orders a resync, which pages answer by reloading from the REST API).
import { api } from "./client";

export type Notice = { seq: number; type: string; data: Record<string, unknown> };
type Listener = (notice: Notice) => void;

const RETRY_MAX_MS = 10_000;

class Realtime {
  private socket: WebSocket | null = null;
  private lastSeq = 0;
  private readonly topics = new Map<string, Set<Listener>>();
  private readonly statusListeners = new Set<(online: boolean) => void>();
  private retries = 0;
  private timer: number | undefined;
  private running = false;
  private nextId = 1;
  online = false;

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    window.clearTimeout(this.timer);
    this.socket?.close(1000);
    this.socket = null;
    this.lastSeq = 0;
    this.setOnline(false);
  }

  /** Listens to a topic ("inbox", "sessions", "conversation:12"); answers the unsubscribe. */
  listen(topic: string, listener: Listener): () => void {
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.topics.set(topic, listeners);
      this.send({ type: "subscribe", topics: [topic] });
    }
    listeners.add(listener);
    return () => {
      const current = this.topics.get(topic);
      current?.delete(listener);
      if (current && current.size === 0) {
        this.topics.delete(topic);
        this.send({ type: "unsubscribe", topics: [topic] });
      }
    };
  }

  onStatus(listener: (online: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private setOnline(online: boolean): void {
    this.online = online;
    for (const listener of this.statusListeners) listener(online);
  }

  private send(message: Record<string, unknown>): void {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ id: this.nextId++, ...message }));
    }
  }

  private async connect(): Promise<void> {
    let ticket: string;
    try {
      ticket = (await api("post", "/api/v1/ws/ticket")).ticket;
    } catch {
      this.retry();
      return;
    }
    if (!this.running) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({ ticket });
    if (this.lastSeq > 0) query.set("last_seq", String(this.lastSeq));
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws?${query}`);
    this.socket = socket;
    socket.onopen = () => {
      this.retries = 0;
      this.setOnline(true);
      if (this.topics.size > 0) this.send({ type: "subscribe", topics: [...this.topics.keys()] });
    };
    socket.onmessage = (event: MessageEvent<string>) => this.receive(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.setOnline(false);
      this.retry();
    };
  }

  private retry(): void {
    if (!this.running) return;
    const delay = Math.min(RETRY_MAX_MS, 500 * 2 ** this.retries++);
    this.timer = window.setTimeout(() => void this.connect(), delay);
  }

  private receive(text: string): void {
    const frame = JSON.parse(text) as Partial<Notice> & { type: string };
    if (frame.type === "result" || typeof frame.seq !== "number") return;
    this.lastSeq = Math.max(this.lastSeq, frame.seq);
    const notice = frame as Notice;
    if (notice.type === "resync") {
      for (const listeners of this.topics.values()) for (const l of listeners) l(notice);
      return;
    }
    for (const [topic, listeners] of this.topics) {
      if (topicMatches(topic, notice)) for (const listener of listeners) listener(notice);
    }
  }
}

// Frames do not name their topic; the type and data say which topic they belong to.
function topicMatches(topic: string, notice: Notice): boolean {
  const type = notice.type;
  if (topic === "sessions") return type.startsWith("session.");
  if (topic === "inbox") return type.startsWith("conversation.");
  if (topic.startsWith("conversation:")) {
    const id = Number(topic.slice("conversation:".length));
    const data = notice.data;
    return (
      (type.startsWith("message.") ||
        type.startsWith("typing.") ||
        type.startsWith("suggestion.")) &&
      data.conversation_id === id
    );
  }
  return topic === "me" && type.startsWith("notification.");
}

export const realtime = new Realtime();
