"""The job runner: kinds that run in batches, a job of a batch asked to run again, and one
kind's backlog never holding up another's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core import keys
from core.desk.unit import DESK
from core.jobs import JOBS, Claimed, Retry
from core.storage.models import Job
from tests.conftest import Desk
from tests.test_desk import until

LATER = timedelta(hours=1)


async def ask(desk: Desk, kind: str, keys_: list[str]) -> None:
    """Jobs due in an hour: nothing runs them until ``due`` makes them due all at once."""
    at = datetime.now(UTC) + LATER

    async def work(db: Any, changes: Any) -> None:
        for key in keys_:
            changes.enqueue(kind, key, run_at=at)

    await desk.app[DESK].run(work)


async def due(desk: Desk, kind: str, ago_s: float = 0) -> None:
    async with desk.app[keys.SESSIONS].begin() as db:
        at = datetime.now(UTC) - timedelta(seconds=ago_s)
        await db.execute(update(Job).where(Job.kind == kind).values(run_at=at))
    desk.app[JOBS].wake()


async def none_left(desk: Desk, kind: str) -> bool:
    async with desk.app[keys.SESSIONS]() as db:
        return await db.scalar(select(Job.id).where(Job.kind == kind).limit(1)) is None


async def test_a_batched_kind_gets_its_due_jobs_together_and_each_once(desk: Desk) -> None:
    batches: list[list[str]] = []

    async def handler(jobs: list[Claimed]) -> None:
        batches.append([job.key for job in jobs])

    desk.app[JOBS].handle_batches("test.batch", handler, size=10)
    names = [f"k{n:02}" for n in range(25)]
    await ask(desk, "test.batch", names)
    await due(desk, "test.batch")
    await until(lambda: none_left(desk, "test.batch"))
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert sorted(key for batch in batches for key in batch) == names


async def test_a_job_of_a_batch_may_ask_to_run_again_alone(desk: Desk) -> None:
    runs: list[str] = []

    async def handler(jobs: list[Claimed]) -> dict[int, Retry]:
        runs.extend(job.key for job in jobs)
        return {
            job.id: Retry(0.01, "not yet") for job in jobs if job.key == "b" and job.attempts == 0
        }

    desk.app[JOBS].handle_batches("test.again", handler, size=10)
    await ask(desk, "test.again", ["a", "b", "c"])
    await due(desk, "test.again")
    await until(lambda: none_left(desk, "test.again"))
    assert sorted(runs) == ["a", "b", "b", "c"]


async def test_a_backlog_of_one_kind_does_not_hold_up_another(desk: Desk) -> None:
    """Sixty jobs of a kind wait before a send: the send still goes at once (a kind in batches
    takes one of the runner's places, however many of its jobs are due)."""
    release = asyncio.Event()
    flood_runs: list[int] = []
    other_ran = asyncio.Event()

    async def flood(jobs: list[Claimed]) -> None:
        flood_runs.append(len(jobs))
        await release.wait()

    async def other(job: Claimed) -> None:
        other_ran.set()

    runner = desk.app[JOBS]
    runner.handle_batches("test.flood", flood, size=5)
    runner.handle("test.other", other)
    await ask(desk, "test.flood", [str(n) for n in range(60)])
    await ask(desk, "test.other", ["x"])
    await due(desk, "test.flood", ago_s=60)  # older than the other one: first in line
    await due(desk, "test.other")
    await asyncio.wait_for(other_ran.wait(), 15)
    assert flood_runs == [5]  # the flood is still on its first batch
    release.set()
    await until(lambda: none_left(desk, "test.flood"))
    assert sum(flood_runs) == 60
