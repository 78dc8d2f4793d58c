"""One unit of work at the desk: a transaction, its change set, and after the commit its notices
published and its jobs woken — the one helper every desk action goes through.

Conversations a unit changes are loaded as rows (``load``: locked ``FOR UPDATE`` on PostgreSQL,
or not, for work that must not hold up ingest, like the bot's) and written back guarded by what
was read (status, department, assignee): if another unit moved them meanwhile (SQLite does not
lock on read), the write finds nothing, and the unit runs again from the start, reading the
new state. So of two claims at once exactly one wins, on either database, and the bot never
speaks in a conversation someone took while it was answering.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiohttp import web
from sqlalchemy import and_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.auth.visibility import Viewer, not_found
from core.desk import sla
from core.desk.changes import Changes
from core.jobs import JobRunner
from core.realtime.bus import Bus, Notice
from core.storage.rows import ConversationRow, rows_of, store_changes, update_guarded

log = structlog.get_logger("core.desk")

T = TypeVar("T")
ATTEMPTS = 5
# Lost races and deadlocks between concurrent units: the unit is simply run again.
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "23505"})
_GUARDED = ("status", "department_id", "assignee_id")
Work = Callable[[AsyncSession, Changes], Awaitable[T]]


class Stale(Exception):
    """A row changed under the unit since it was read: run the unit again."""


def retriable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError | OperationalError):
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in _RETRY_SQLSTATES


async def load(
    db: AsyncSession, conversation_id: int, *, lock: bool = True, viewer: Viewer | None = None
) -> ConversationRow:
    """A conversation to move, locked until the unit ends (PostgreSQL); with ``viewer``, only
    one they may see (``not_found`` otherwise, as for a missing one)."""
    table = ConversationRow.table
    statement = select(*ConversationRow.selected()).where(table.c.id == conversation_id)
    found = await rows_of(db, ConversationRow, statement.with_for_update() if lock else statement)
    if not found or (viewer is not None and not viewer.sees_conversation(found[0])):
        raise not_found(conversation_id)
    return found[0]


async def load_many(db: AsyncSession, ids: list[int]) -> list[ConversationRow]:
    """Conversations to move, not locked (their writes are guarded); missing ones are left out."""
    table = ConversationRow.table
    statement = select(*ConversationRow.selected()).where(table.c.id.in_(ids))
    return await rows_of(db, ConversationRow, statement.order_by(table.c.id))


async def store(db: AsyncSession, changes: Changes) -> None:
    """Writes the conversations the unit changed, each guarded by what it read — their stamp
    too, alone when only their view changed (their tags, their contact's name)."""
    groups: dict[tuple[str, ...], list[ConversationRow]] = {}
    for row in changes.conversations_updated:
        if row.id is not None and row.was is not None:
            groups.setdefault(tuple(row.changes()), []).append(row)
    for names, rows in groups.items():
        if db.bind.dialect.name == "postgresql" and len(rows) > 1:
            await _store_together(db, names, rows)
        else:
            for row in rows:
                await _store_one(db, row)
        for row in rows:
            row.was = row.values()
    await store_changes(db, [*changes.messages_updated])


async def _store_one(db: AsyncSession, row: ConversationRow) -> None:
    table = ConversationRow.table
    was = dict(zip(row.columns, row.was or (), strict=True))
    guard = and_(
        *(
            table.c[name].is_(None) if was[name] is None else table.c[name] == was[name]
            for name in _GUARDED
        )
    )
    changed = row.changes() | {"updated_at": row.updated_at}  # as its notices say
    written = await db.execute(update(table).where(table.c.id == row.id, guard).values(changed))
    if written.rowcount != 1:  # type: ignore[attr-defined]
        raise Stale(f"conversation {row.id}")


async def _store_together(
    db: AsyncSession, names: tuple[str, ...], rows: list[ConversationRow]
) -> None:
    """PostgreSQL: one guarded UPDATE for rows that changed the same columns."""
    written = await update_guarded(db, rows, (*names, "updated_at"), _GUARDED)
    if written != len(rows):
        raise Stale(f"{len(rows) - written} of {len(rows)} conversations")


class Desk:
    """Runs units of work: ``await desk.run(work)``, ``work(db, changes)`` answering a result."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], bus: Bus, jobs: JobRunner | None = None
    ) -> None:
        self.db = db
        self.bus = bus
        self.jobs = jobs

    async def run(self, work: Work[T]) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            changes = Changes()
            try:
                async with self.db.begin() as db:
                    result = await work(db, changes)
                    await sla.settle(db, changes)
                    await store(db, changes)
                    await changes.write(db)
                    notices = await changes.notices(db, {}, {})
            except Stale as exc:
                if attempt == ATTEMPTS:
                    raise
                log.info("unit_retry", attempt=attempt, stale=str(exc))
            except DBAPIError as exc:
                if attempt == ATTEMPTS or not retriable(exc):
                    raise
                log.info("unit_retry", attempt=attempt, error=type(exc.orig).__name__)
            else:
                await self.after_commit(notices, changes)
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def after_commit(self, notices: list[Notice], changes: Changes) -> None:
        if self.jobs is not None:
            self.jobs.wanted(changes.enqueued)
        await publish(self.bus, notices)


async def publish(bus: Bus, notices: list[Notice]) -> None:
    if not notices:
        return
    try:
        await bus.publish(notices)
    except Exception:
        # Stored already: clients catch up by resync, the work is not redone.
        log.exception("publish_failed", notices=len(notices))


DESK = web.AppKey("desk", Desk)
