"""The gateway's durable outbox: every event a session host hands over is committed here first.

One SQLite file in WAL mode, driven by one dedicated thread (the supervisor never loads
neonize, so plain ``sqlite3`` is safe here). Appends from many sessions are grouped: callers
queue their rows and wait; one writer commits everything queued so far in one transaction, so
the cost of a commit is shared by every append that arrived while the previous one ran.

Delivery reads with ``claim``: the oldest undelivered events in arrival order, never an event
of a session while an earlier event of that session is claimed (in flight or about to be
retried), so core sees each session's events in order. Claims live in memory only: after a
restart everything unacknowledged is offered again, and core's idempotency on ``Event.id``
absorbs the repeats.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from sessions.events import Event

log = structlog.get_logger("gateway.outbox")

T = TypeVar("T")
Listener = Callable[[], None]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    type TEXT NOT NULL,
    at REAL NOT NULL,
    appended_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS parked (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    type TEXT NOT NULL,
    at REAL NOT NULL,
    appended_at REAL NOT NULL,
    body BLOB NOT NULL,
    status INTEGER,
    reason TEXT NOT NULL,
    parked_at REAL NOT NULL
);
"""
_INSERT = (
    "INSERT INTO events (seq, id, session_id, type, at, appended_at, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# The table holds only undelivered events, so walking it by seq from the start is walking
# the backlog; only events of busy sessions are skipped.
_SELECT_CLAIMABLE = (
    "SELECT seq, id, session_id, type, at, appended_at, body FROM events"
    " WHERE session_id NOT IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?"
)
_PARK = (
    "INSERT INTO parked (seq, id, session_id, type, at, appended_at, body,"
    " status, reason, parked_at)"
    " SELECT seq, id, session_id, type, at, appended_at, body, ?, ?, ? FROM events WHERE seq = ?"
)
_SELECT_PARKED = (
    "SELECT seq, id, session_id, type, at, appended_at, body, status, reason, parked_at"
    " FROM parked ORDER BY seq LIMIT ?"
)
_UNPARK = (
    "INSERT INTO events (seq, id, session_id, type, at, appended_at, body)"
    " SELECT seq, id, session_id, type, at, appended_at, body FROM parked WHERE seq = ?"
)

Row = tuple[int, str, str, str, float, float, bytes]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the outbox keeps it; ``body`` is the event's JSON, serialized once."""

    seq: int
    id: str
    session_id: str
    type: str
    at: float  # Event.at, unix seconds
    appended_at: float  # when the outbox committed it, unix seconds
    body: bytes


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """An event core refused; kept aside with core's answer until someone retries it."""

    event: StoredEvent
    status: int | None
    reason: str
    parked_at: float


class OutboxClosed(Exception):
    """The outbox is not open."""


class Outbox:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        # Group commit: rows queued by append() and the callers waiting for their commit.
        self._queued: list[Row] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._next_seq = 1
        # Claims: seq -> session, and how many claimed events each session has.
        self._claimed: dict[int, str] = {}
        self._busy: Counter[str] = Counter()
        self._claim_lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._closing = False
        # Figures, written only by the database thread after a commit, read by anyone.
        self._depth = 0
        self._parked_count = 0
        self._oldest_appended_at: float | None = None

    # Lifecycle

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        try:
            await self._call(self._open_db)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        log.info("outbox_opened", path=str(self.path), depth=self._depth, parked=self._parked_count)

    async def close(self) -> None:
        """Waits for queued appends to commit, then closes the file."""
        if self._executor is None:
            return
        self._closing = True
        if self._writer is not None:
            await asyncio.wait({self._writer})
        await self._call(self._close_db)
        self._executor.shutdown(wait=True)
        self._executor = None
        self._claimed.clear()
        self._busy.clear()
        self._closing = False

    # Writing

    async def append(self, events: Sequence[Event]) -> None:
        """Returns once ``events`` are committed to the file, in the order given."""
        if self._executor is None or self._closing:
            raise OutboxClosed("the outbox is not open")
        if not events:
            return
        now = time.time()
        # Serialized once, here; the seq (arrival order) is taken when queued.
        bodies = [(event, event.model_dump_json().encode()) for event in events]
        first = self._next_seq
        self._next_seq += len(bodies)
        self._queued.extend(
            (seq, event.id, event.session_id, event.type, event.at.timestamp(), now, body)
            for seq, (event, body) in enumerate(bodies, start=first)
        )
        committed = asyncio.get_running_loop().create_future()
        self._waiters.append(committed)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="outbox-writer")
        # Cancelling this wait does not withdraw the rows: they are committed all the same.
        await committed

    async def _write_queued(self) -> None:
        while self._queued:
            rows, self._queued = self._queued, []
            waiters, self._waiters = self._waiters, []
            try:
                await self._call(self._insert, rows)
            except asyncio.CancelledError:
                # The loop is going away; nobody may wait forever for an answer.
                for waiter in [*waiters, *self._waiters]:
                    waiter.cancel()
                raise
            except Exception as exc:
                log.error("outbox_append_failed", events=len(rows), error=repr(exc))
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._notify()

    # Reading for delivery

    async def claim(self, limit: int) -> list[StoredEvent]:
        """The oldest claimable events, in arrival order, at most ``limit``.

        A session with a claimed event is skipped entirely: what is claimed of a session is
        always the oldest part of it, so this keeps each session's order.
        """
        async with self._claim_lock:
            busy = json.dumps(list(self._busy))
            rows = await self._call(self._select_claimable, busy, limit)
            events = [StoredEvent(*row) for row in rows]
            for event in events:
                self._claimed[event.seq] = event.session_id
                self._busy[event.session_id] += 1
            return events

    def release(self, seqs: Iterable[int]) -> None:
        """Hands claimed events back; they are offered again by a later claim."""
        for seq in seqs:
            session_id = self._claimed.pop(seq, None)
            if session_id is None:
                continue
            self._busy[session_id] -= 1
            if self._busy[session_id] <= 0:
                del self._busy[session_id]

    async def ack(self, seqs: Sequence[int]) -> None:
        """Core has these: delete them. Unclaiming first is safe: the delete is queued on the
        database thread ahead of any later claim, and if it fails they are simply re-offered."""
        self.release(seqs)
        await self._call(self._delete, list(seqs))

    async def park(self, seq: int, reason: str, status: int | None = None) -> None:
        """Moves a poisoned event aside, with core's status and reason; later events go on."""
        self.release([seq])
        await self._call(self._move_to_parked, seq, reason, status)

    async def parked(self, limit: int = 100) -> list[ParkedEvent]:
        rows = await self._call(self._select_parked, limit)
        return [
            ParkedEvent(event=StoredEvent(*row[:7]), status=row[7], reason=row[8], parked_at=row[9])
            for row in rows
        ]

    async def retry_parked(self, seq: int) -> bool:
        """Puts a parked event back in line (at its original place); False if not parked."""
        moved = await self._call(self._move_from_parked, seq)
        if moved:
            self._notify()
        return moved

    # Figures for metrics (exact: maintained with each commit)

    def depth(self) -> int:
        """Events not yet delivered, in flight included, parked excluded."""
        return self._depth

    def oldest_age_s(self) -> float:
        """Seconds since the oldest undelivered event was appended; 0 when none."""
        oldest = self._oldest_appended_at
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def parked_count(self) -> int:
        return self._parked_count

    def claimed_count(self) -> int:
        return len(self._claimed)

    # Wake-ups for whoever delivers

    def add_listener(self, listener: Listener) -> None:
        """``listener()`` runs on the loop after each commit that adds deliverable events."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("outbox_listener_failed")

    # The database thread: everything below runs there, one call at a time.

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise OutboxClosed("the outbox is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxClosed("the outbox is not open")
        return self._db

    def _open_db(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL still survives a crash of this process (the commit is in the
            # WAL file); only a power loss or OS crash can drop the last commits. That is the
            # trade we accept for group commits without an fsync each.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            top = db.execute(
                "SELECT max(coalesce((SELECT max(seq) FROM events), 0),"
                " coalesce((SELECT max(seq) FROM parked), 0))"
            ).fetchone()
            self._depth = db.execute("SELECT count(*) FROM events").fetchone()[0]
            self._parked_count = db.execute("SELECT count(*) FROM parked").fetchone()[0]
        except BaseException:
            db.close()
            raise
        self._db = db
        self._next_seq = int(top[0]) + 1
        self._refresh_oldest()

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _refresh_oldest(self) -> None:
        row = (
            self._connection()
            .execute("SELECT appended_at FROM events ORDER BY seq LIMIT 1")
            .fetchone()
        )
        self._oldest_appended_at = None if row is None else float(row[0])

    def _insert(self, rows: list[Row]) -> None:
        db = self._connection()
        with _transaction(db):
            db.executemany(_INSERT, rows)
        self._depth += len(rows)
        if self._oldest_appended_at is None:
            self._oldest_appended_at = rows[0][5]

    def _select_claimable(self, busy_sessions: str, limit: int) -> list[Row]:
        return self._connection().execute(_SELECT_CLAIMABLE, (busy_sessions, limit)).fetchall()

    def _delete(self, seqs: list[int]) -> None:
        db = self._connection()
        with _transaction(db):
            deleted = db.execute(
                "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))",
                (json.dumps(seqs),),
            ).rowcount
        self._depth -= deleted
        self._refresh_oldest()

    def _move_to_parked(self, seq: int, reason: str, status: int | None) -> None:
        db = self._connection()
        with _transaction(db):
            moved = db.execute(_PARK, (status, reason, time.time(), seq)).rowcount
            db.execute("DELETE FROM events WHERE seq = ?", (seq,))
        self._depth -= moved
        self._parked_count += moved
        self._refresh_oldest()

    def _select_parked(self, limit: int) -> list[tuple[Any, ...]]:
        return self._connection().execute(_SELECT_PARKED, (limit,)).fetchall()

    def _move_from_parked(self, seq: int) -> bool:
        db = self._connection()
        with _transaction(db):
            moved = db.execute(_UNPARK, (seq,)).rowcount
            db.execute("DELETE FROM parked WHERE seq = ?", (seq,))
        self._depth += moved
        self._parked_count -= moved
        self._refresh_oldest()
        return moved > 0


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the connection is autocommit)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
