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
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from aiohttp import web
from sqlalchemy import Table, case, delete, or_, select, tuple_, update
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
# A kind whose jobs are cheaper together (one transaction and a few set-based statements for
# many) gets them in batches; it answers the jobs to run again (the others are done).
BatchHandler = Callable[[list[Claimed]], Awaitable[Mapping[int, Retry] | None]]


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
        self._batches: dict[str, tuple[BatchHandler, int, int]] = {}
        self._batch_running: Counter[str] = Counter()
        self._running = TaskSet("job_task_failed")

    def handle(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def handle_batches(
        self, kind: str, handler: BatchHandler, size: int, parallel: int = 1
    ) -> None:
        """``handler`` gets up to ``size`` due jobs of ``kind`` at once, in at most
        ``parallel`` batches at a time; each batch takes one of the runner's places, so one
        kind never crowds out the others."""
        self._batches[kind] = (handler, size, parallel)

    def wanted(self, jobs: Sequence[Wanted]) -> None:
        """After a commit that enqueued ``jobs``: look now if one is due."""
        now = utcnow()
        if any(job.run_at <= now and self._room_for(job.kind) for job in jobs):
            self.wake()  # (else a job that ends wakes the loop)

    def _room_for(self, kind: str) -> bool:
        if kind in self._batches:
            return self._batch_running[kind] < self._batches[kind][2]
        return len(self._running) < BATCH

    async def run_once(self) -> bool:
        room = BATCH - len(self._running)
        found = False
        for kind, (handler, size, parallel) in self._batches.items():
            while room > 0 and self._batch_running[kind] < parallel:
                batch = await self._claim([kind], size)
                if not batch:
                    break
                self._batch_running[kind] += 1
                self._running.spawn(self._run_batch(kind, handler, batch), f"jobs-{kind}")
                room -= 1
                found = True
        if room <= 0 or not self._handlers:
            return found  # a job that ends wakes the loop
        claimed = await self._claim(list(self._handlers), room)
        for job in claimed:
            self._running.spawn(self._run_one(job), f"job-{job.kind}-{job.key}")
        return found or bool(claimed)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """No new job is taken; the ones running may finish (a job cut off is retried later,
        by this core after a restart or by another)."""
        await super().stop(timeout_s)
        await self._running.drain(timeout_s)

    async def _claim(self, kinds: list[str], room: int) -> list[Claimed]:
        now = utcnow()
        free = or_(Job.locked_until.is_(None), Job.locked_until < now)
        due = (
            select(Job.id)
            .where(Job.run_at <= now, Job.kind.in_(kinds), free)
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
        async def run() -> None:
            await self._handlers[job.kind](job)

        try:
            await self._handle([job], run)
        finally:
            self.wake()  # room for another

    async def _run_batch(self, kind: str, handler: BatchHandler, jobs: list[Claimed]) -> None:
        try:
            await self._handle(jobs, lambda: handler(jobs))
        finally:
            self._batch_running[kind] -= 1
            self.wake()

    async def _handle(
        self, jobs: list[Claimed], run: Callable[[], Awaitable[Mapping[int, Retry] | None]]
    ) -> None:
        try:
            again = await run() or {}
        except Retry as retry:
            await self._again(jobs, retry.delay_s, retry.error)
        except Exception as exc:
            log.exception("job_crashed", kind=jobs[0].kind, job_ids=[job.id for job in jobs])
            spent = [job for job in jobs if job.attempts + 1 >= MAX_ATTEMPTS]
            if spent:
                log.error("job_abandoned", kind=jobs[0].kind, job_ids=[job.id for job in spent])
                await self._done(spent)
            later = [job for job in jobs if job.attempts + 1 < MAX_ATTEMPTS]
            if later:
                delay = backoff(min(job.attempts for job in later) + 1, 1.0, 300.0)
                await self._again(later, delay, repr(exc))
        else:
            for job in jobs:
                if job.id in again:
                    await self._again([job], again[job.id].delay_s, again[job.id].error)
            await self._done([job for job in jobs if job.id not in again])

    async def _done(self, jobs: list[Claimed]) -> None:
        if not jobs:
            return
        ran = [(job.id, job.revision) for job in jobs]
        async with self._db.begin() as db:
            gone = set(
                await db.scalars(
                    delete(Job).where(tuple_(Job.id, Job.revision).in_(ran)).returning(Job.id)
                )
            )
            again = [job.id for job in jobs if job.id not in gone]
            if again:
                # Asked for again while they ran: once more, as soon as they are due.
                await db.execute(update(Job).where(Job.id.in_(again)).values(locked_until=None))
                self.wake()

    async def _again(self, jobs: list[Claimed], delay_s: float, error: str) -> None:
        async with self._db.begin() as db:
            await db.execute(
                update(Job)
                .where(Job.id.in_([job.id for job in jobs]))
                .values(
                    attempts=Job.attempts + 1,
                    run_at=utcnow() + timedelta(seconds=delay_s),
                    locked_until=None,
                    last_error=error[:1000],
                )
                .execution_options(synchronize_session=False)
            )


JOBS = web.AppKey("jobs", JobRunner)
