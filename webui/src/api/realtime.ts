// One websocket per tab. It asks for a single-use ticket, subscribes to the topics the open
// pages want, and on reconnect passes the last seq it saw so core replays what was missed
// (or orders a resync, which pages answer by reloading from the REST API). A page that loads
// state from the REST API and then follows it live loads it when core has confirmed the
// subscription (listen's onReady), so nothing published in between is lost.
import { api } from "./client";

export type Notice = { seq: number; topic?: string; type: string; data: Record<string, unknown> };
type Listener = (notice: Notice) => void;
type Subscriber = { listener: Listener; onReady: (() => void) | undefined };

const RETRY_MAX_MS = 10_000;

class Realtime {
  private socket: WebSocket | null = null;
  private lastSeq = 0;
  private readonly topics = new Map<string, Set<Subscriber>>();
  private readonly confirmed = new Set<string>(); // topics core has subscribed this socket to
  private readonly asked = new Map<number, string[]>(); // subscribe request id → its topics
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
    this.confirmed.clear();
    this.asked.clear();
    this.lastSeq = 0;
    this.setOnline(false);
  }

  /** Listens to a topic ("inbox", "sessions", "conversation:12"); answers the unsubscribe.
   * onReady runs each time core confirms the subscription (again after a reconnect): from
   * then on every change reaches the listener, so that is when to load the current state. */
  listen(topic: string, listener: Listener, onReady?: () => void): () => void {
    const subscriber: Subscriber = { listener, onReady };
    let subscribers = this.topics.get(topic);
    if (!subscribers) {
      subscribers = new Set();
      this.topics.set(topic, subscribers);
      this.subscribe([topic]);
    } else if (onReady && this.confirmed.has(topic)) {
      queueMicrotask(onReady);
    }
    subscribers.add(subscriber);
    return () => {
      const current = this.topics.get(topic);
      current?.delete(subscriber);
      if (current && current.size === 0) {
        this.topics.delete(topic);
        this.confirmed.delete(topic);
        this.send({ type: "unsubscribe", topics: [topic] });
      }
    };
  }

  /** Whether core has confirmed that this socket follows ``topic``. */
  isConfirmed(topic: string): boolean {
    return this.confirmed.has(topic);
  }

  onStatus(listener: (online: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private setOnline(online: boolean): void {
    this.online = online;
    for (const listener of this.statusListeners) listener(online);
  }

  private send(message: Record<string, unknown>): number | null {
    if (this.socket?.readyState !== WebSocket.OPEN) return null;
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ id, ...message }));
    return id;
  }

  private subscribe(topics: string[]): void {
    const id = this.send({ type: "subscribe", topics });
    if (id !== null) this.asked.set(id, topics);
  }

  private subscribed(id: unknown, ok: unknown): void {
    const topics = typeof id === "number" ? this.asked.get(id) : undefined;
    if (!topics) return;
    this.asked.delete(id as number);
    if (ok !== true) return;
    for (const topic of topics) {
      const subscribers = this.topics.get(topic);
      if (!subscribers) continue;
      this.confirmed.add(topic);
      for (const { onReady } of subscribers) onReady?.();
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
      if (this.topics.size > 0) this.subscribe([...this.topics.keys()]);
    };
    socket.onmessage = (event: MessageEvent<string>) => this.receive(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.confirmed.clear();
      this.asked.clear();
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
    const frame = JSON.parse(text) as Partial<Notice> & { type: string; id?: unknown; ok?: unknown };
    if (frame.type === "result") return this.subscribed(frame.id, frame.ok);
    if (typeof frame.seq !== "number") return;
    this.lastSeq = Math.max(this.lastSeq, frame.seq);
    const notice = frame as Notice;
    if (notice.type === "resync") {
      for (const subscribers of this.topics.values()) for (const s of subscribers) s.listener(notice);
      return;
    }
    // Every notice names the topic it came on.
    const subscribers = notice.topic ? this.topics.get(notice.topic) : undefined;
    if (subscribers) for (const s of subscribers) s.listener(notice);
  }
}

export const realtime = new Realtime();
