"""Durable jobs (``core.storage.models.job``) and the one loop that runs them.

A unit of work asks for a job through its change set (``Changes.enqueue``); it is written in
the same transaction, so a job is never lost between "stored" and "done". The runner claims
due jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several core processes share them; on
SQLite one process runs them all), runs each kind's handler, and deletes the job when it ends.

Idempotent per kind: a job is unique per ``(kind, key)``. Asking again for one that waits
keeps the earlier time (or, with ``replace``, takes the new time and payload: a timer reset);
asking for one that is running right now makes it run once more after (a sweep asked for while
one sweeps is not lost).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from aiohttp import web
from sqlalchemy import Table, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.storage.base import utcnow
from core.storage.models.job import Job
from zapdesk.tasks import TaskSet, Worker

log = structlog.get_logger("core.jobs")

BATCH = 16  # jobs a core runs at once (one slow send never holds up the bot or a sweep)
MAX_ATTEMPTS = 20  # a handler that keeps crashing gives up (logged) after this many


@dataclass(frozen=True)
class Wanted:
    kind: str
    key: str
    payload: dict[str, Any]
    run_at: datetime
    replace: bool = False


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    revision: int
    created_at: datetime


class Retry(Exception):
    """Raised by a handler: run the job again after ``delay_s``."""

    def __init__(self, delay_s: float, error: str) -> None:
        super().__init__(error)
        self.delay_s = delay_s
        self.error = error


Handler = Callable[[Claimed], Awaitable[None]]


def backoff(attempts: int, base: float, ceiling: float) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from ``base``, at most ``ceiling``,
    with jitter so that replicas (and many waiting jobs) do not retry in step."""
    delay = min(ceiling, base * 2.0 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret


async def write_jobs(db: AsyncSession, wanted: Sequence[Wanted]) -> None:
    """Writes jobs in the caller's transaction (``Changes.write`` calls it)."""
    if not wanted:
        return
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, Job.__table__)
    for replace in (False, True):
        rows = [
            {"kind": w.kind, "key": w.key, "payload": w.payload, "run_at": w.run_at}
            for w in _last_per_key(w for w in wanted if w.replace is replace)
        ]
        if not rows:
            continue
        statement = insert(table)
        new = statement.excluded
        # A job running now (locked) runs again after: its revision tells the runner so.
        values: dict[str, Any] = {"revision": table.c.revision + 1}
        if replace:
            values |= {"run_at": new.run_at, "payload": new.payload, "attempts": 0}
        else:
            values["run_at"] = case((new.run_at < table.c.run_at, new.run_at), else_=table.c.run_at)
        await db.execute(
            statement.on_conflict_do_update(index_elements=["kind", "key"], set_=values), rows
        )


def _last_per_key(wanted: Any) -> list[Wanted]:
    # One row per key in a statement: PostgreSQL refuses to update a row twice in one INSERT.
    return list({(w.kind, w.key): w for w in wanted}.values())


class JobRunner(Worker):
    """Claims due jobs and runs them, each kind with its handler."""

    name = "job-runner"

    def __init__(
        self, db: async_sessionmaker[AsyncSession], poll_s: float = 1.0, lock_s: float = 120.0
    ) -> None:
        super().__init__(poll_s)
        self._db = db
        self._lock_s = lock_s  # a core that dies holding a job lets it go after this
        self._handlers: dict[str, Handler] = {}
        self._running = TaskSet("job_task_failed")

    def handle(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def wanted(self, jobs: Sequence[Wanted]) -> None:
        """After a commit that enqueued ``jobs``: look now if one is due."""
        now = utcnow()
        if any(job.run_at <= now for job in jobs):
            self.wake()

    async def run_once(self) -> bool:
        room = BATCH - len(self._running)
        if room <= 0:
            return False  # a job that ends wakes the loop
        claimed = await self._claim(room)
        for job in claimed:
            self._running.spawn(self._run_one(job), f"job-{job.kind}-{job.key}")
        return bool(claimed)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """No new job is taken; the ones running may finish (a job cut off is retried later,
        by this core after a restart or by another)."""
        await super().stop(timeout_s)
        await self._running.drain(timeout_s)

    async def _claim(self, room: int) -> list[Claimed]:
        now = utcnow()
        free = or_(Job.locked_until.is_(None), Job.locked_until < now)
        due = (
            select(Job.id)
            .where(Job.run_at <= now, Job.kind.in_(self._handlers), free)
            .order_by(Job.run_at, Job.id)
            .limit(room)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
        )
        # The condition again in the UPDATE: a process that took the row meanwhile wins.
        claim = (
            update(Job)
            .where(Job.id.in_(due.scalar_subquery()), free)
            .values(locked_until=now + timedelta(seconds=self._lock_s))
            .returning(
                Job.id,
                Job.kind,
                Job.key,
                Job.payload,
                Job.attempts,
                Job.revision,
                Job.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        async with self._db.begin() as db:
            rows = (await db.execute(claim)).all()
        return [Claimed(*row) for row in rows]

    async def _run_one(self, job: Claimed) -> None:
        try:
            await self._handle(job)
        finally:
            self.wake()  # room for another

    async def _handle(self, job: Claimed) -> None:
        try:
            await self._handlers[job.kind](job)
        except Retry as retry:
            await self._again(job, retry.delay_s, retry.error)
        except Exception as exc:
            log.exception("job_crashed", kind=job.kind, job_id=job.id)
            if job.attempts + 1 >= MAX_ATTEMPTS:
                log.error("job_abandoned", kind=job.kind, job_id=job.id)
                await self._done(job)
            else:
                await self._again(job, backoff(job.attempts + 1, 1.0, 300.0), repr(exc))
        else:
            await self._done(job)

    async def _done(self, job: Claimed) -> None:
        async with self._db.begin() as db:
            gone = await db.execute(
                delete(Job).where(Job.id == job.id, Job.revision == job.revision)
            )
            if gone.rowcount == 0:  # type: ignore[attr-defined]
                # Asked for again while it ran: once more, as soon as it is due.
                await db.execute(update(Job).where(Job.id == job.id).values(locked_until=None))
                self.wake()

    async def _again(self, job: Claimed, delay_s: float, error: str) -> None:
        async with self._db.begin() as db:
            await db.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(
                    attempts=job.attempts + 1,
                    run_at=utcnow() + timedelta(seconds=delay_s),
                    locked_until=None,
                    last_error=error[:1000],
                )
            )


JOBS = web.AppKey("jobs", JobRunner)
