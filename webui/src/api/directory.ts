// What the desk's pages name and count: the departments, the team (people with their status
// and load), everyone's name (people outside one's departments too: who claimed or transferred
// a conversation before it reached you), the queues and the tags. Each is loaded once per tab and
// shared by the pages showing it (a Shared store, which the bell uses too); a name nobody knows
// yet has the people read again, once.
// While some page follows it, the team's statuses follow the "presence" topic and its load
// (like the queues) is read again a moment after a conversation changes hands.
import { useEffect, useSyncExternalStore } from "react";
import { api } from "./client";
import { realtime } from "./realtime";
import type { Department, Member, Person, Presence, Queue, Tag } from "./types";

// A burst of inbox notices (a sweep hands out several) becomes one request.
const RELOAD_AFTER_MS = 400;

export class Shared<T> {
  private value: T | null = null;
  private readonly listeners = new Set<() => void>();
  private loading: Promise<void> | null = null;
  private again = false;
  private generation = 0; // a read begun before a reset (another user) is not kept
  // Changes made while a read is on its way: its answer may predate them, so they are made
  // again on top of it.
  private meanwhile: ((current: T) => T)[] = [];

  constructor(private readonly fetch: () => Promise<T>) {}

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly get = (): T | null => this.value;

  set(value: T | null): void {
    this.value = value;
    for (const listener of this.listeners) listener();
  }

  update(change: (current: T) => T): void {
    if (this.loading) this.meanwhile.push(change);
    if (this.value !== null) this.set(change(this.value));
  }

  /** Reads it again; asked while a read is on its way, one more read follows that one (an
   * answer begun before a change is not taken as the last word). */
  load(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    const generation = this.generation;
    const reading: Promise<void> = this.fetch()
      .then((value) => {
        if (generation === this.generation) this.set(this.meanwhile.reduce((v, change) => change(v), value));
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.loading !== reading) return; // reset meanwhile
        this.loading = null;
        this.meanwhile = [];
        if (this.again) {
          this.again = false;
          void this.load();
        }
      });
    this.loading = reading;
    return reading;
  }

  reset(): void {
    this.generation += 1;
    this.loading = null;
    this.again = false;
    this.meanwhile = [];
    this.set(null);
  }

  loadOnce(): void {
    if (this.value === null && !this.loading) void this.load();
  }

  /** Read again if some page has read it already (it may have changed). */
  reloadIfKnown(): void {
    if (this.value !== null || this.loading) void this.load();
  }
}

const departments = new Shared(async () => (await api("get", "/api/v1/departments")).items);
const team = new Shared(async () => (await api("get", "/api/v1/team")).items);
const queues = new Shared(async () => (await api("get", "/api/v1/queues")).items);
const people = new Shared(async () => (await api("get", "/api/v1/people")).items);
const tags = new Shared(async () => (await api("get", "/api/v1/tags")).items);
const stores = [departments, team, queues, people, tags] as Shared<unknown>[];

// The ids a read of the people did not know: each has them read again once (someone added
// since), never more (an id nobody has would otherwise ask forever).
const unknown = new Set<number>();
let askTimer: number | undefined;

function unknownPerson(id: number): void {
  if (unknown.has(id)) return;
  unknown.add(id);
  window.clearTimeout(askTimer);
  askTimer = window.setTimeout(() => void people.load(), 0); // not during a render
}

/** Forgets everything (someone else may sign in next in this tab). */
export function forgetDirectory(): void {
  for (const store of stores) store.reset();
  unknown.clear();
  unknownTags.clear();
  window.clearTimeout(askTimer);
}

/** The signed-in user's rights changed: what they may see (queues, team) is read again. */
export function refreshDirectory(): void {
  for (const store of stores) store.reloadIfKnown();
}

export function setDepartments(list: Department[]): void {
  departments.set(list);
}

export function reloadDepartments(): void {
  void departments.load();
}

export function useDepartments(): Department[] | null {
  const value = useSyncExternalStore(departments.subscribe, departments.get);
  useEffect(() => departments.loadOnce(), []);
  return value;
}

export function setTags(list: Tag[]): void {
  tags.set(list);
}

// A tag id the list does not know (made since in another tab): read again, once per id.
const unknownTags = new Set<number>();

/** Every tag by name, and a lookup by id that reads the tags again for an id it lacks. */
export function useTags(): { list: Tag[] | null; byId: (id: number) => Tag | null } {
  const list = useSyncExternalStore(tags.subscribe, tags.get);
  useEffect(() => tags.loadOnce(), []);
  return {
    list,
    byId: (id) => {
      const found = list?.find((tag) => tag.id === id) ?? null;
      if (found === null && list !== null && !unknownTags.has(id)) {
        unknownTags.add(id);
        window.setTimeout(() => void tags.load(), 0); // not during a render
      }
      return found;
    },
  };
}

/** Presence notices change a member's status in place; followed while a page shows the team. */
let presenceFollowers = 0;
let stopPresence: (() => void) | null = null;

function followPresence(): () => void {
  if (presenceFollowers++ === 0) {
    stopPresence = realtime.listen(
      "presence",
      (notice) => {
        if (notice.type === "resync") return void team.load();
        if (notice.type !== "presence.updated") return;
        const { user_id: id, status } = notice.data as { user_id?: unknown; status?: unknown };
        if (typeof id !== "number" || typeof status !== "string") return;
        team.update((list) => list.map((m) => (m.id === id ? { ...m, status: status as Presence } : m)));
      },
      // Followed from now on: what changed before is in a fresh read.
      () => void team.load(),
    );
  }
  return () => {
    if (--presenceFollowers === 0) {
      stopPresence?.();
      stopPresence = null;
    }
  };
}

/** Inbox notices move load between people and queues: a store that counts them is read again
 * shortly after (and once the inbox is followed), while some page shows it. */
function reloadedOnInbox<T>(store: Shared<T>): () => () => void {
  let followers = 0;
  let stop: (() => void) | null = null;
  return () => {
    if (followers++ === 0) {
      let timer: number | undefined;
      const off = realtime.listen(
        "inbox",
        () => {
          window.clearTimeout(timer);
          timer = window.setTimeout(() => void store.load(), RELOAD_AFTER_MS);
        },
        () => void store.load(),
      );
      stop = () => {
        off();
        window.clearTimeout(timer);
      };
    }
    return () => {
      if (--followers === 0) {
        stop?.();
        stop = null;
      }
    };
  };
}

const followTeamLoad = reloadedOnInbox(team);
const followQueues = reloadedOnInbox(queues);

/** The team with live statuses; ``withLoad``: their open counts kept fresh too. */
export function useTeam(withLoad = false): Member[] | null {
  const value = useSyncExternalStore(team.subscribe, team.get);
  useEffect(() => {
    team.loadOnce();
    const stop = followPresence();
    const stopLoading = withLoad ? followTeamLoad() : null;
    return () => {
      stop();
      stopLoading?.();
    };
  }, [withLoad]);
  return value;
}

export function setMyPresence(userId: number, status: Presence): void {
  team.update((list) => list.map((m) => (m.id === userId ? { ...m, status } : m)));
}

/** The queues the user may see, kept fresh while shown. */
export function useQueues(): Queue[] | null {
  const value = useSyncExternalStore(queues.subscribe, queues.get);
  useEffect(() => {
    queues.loadOnce();
    return followQueues();
  }, []);
  return value;
}

/** Everyone's name by id, active or not (for choices and names outside one's team). */
export function usePeople(): Person[] | null {
  const value = useSyncExternalStore(people.subscribe, people.get);
  useEffect(() => people.loadOnce(), []);
  return value;
}

/** Names by id: departments and people (null while unknown: a person nobody knows yet has
 * the people read again). */
export function useNames(): {
  department: (id: number | null | undefined) => string | null;
  person: (id: number | null | undefined) => string | null;
} {
  const known = useDepartments();
  const colleagues = useTeam();
  const everyone = usePeople();
  return {
    department: (id) => (id == null ? null : (known?.find((d) => d.id === id)?.name ?? null)),
    person: (id) => {
      if (id == null) return null;
      const name = colleagues?.find((m) => m.id === id)?.name ?? everyone?.find((p) => p.id === id)?.name;
      if (name !== undefined) return name;
      if (everyone !== null) unknownPerson(id);
      return null;
    },
  };
}
