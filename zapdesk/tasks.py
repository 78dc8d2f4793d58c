"""Background work, one way: ``TaskSet.spawn()`` for tasks an owner keeps (a reference to each,
a failure logged with the task's name), and ``Worker`` for a loop owned by a cleanup context
(start, wake, stop: the round in progress finishes, then the loop ends)."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger("zapdesk.tasks")


class TaskSet:
    """Tasks that must not be garbage-collected mid-flight nor fail unseen."""

    def __init__(self, event: str = "task_failed") -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._event = event

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error(self._event, task=task.get_name(), exc_info=error)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float) -> None:
        """Lets the tasks finish for up to ``timeout_s``, then cancels what is left."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        await self.cancel(timeout_s)

    async def cancel(self, timeout_s: float | None = None) -> None:
        """Cancels every task and waits for them (at most ``timeout_s``)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)


class Worker(ABC):
    """A loop that does a round of work, then waits for a wake-up or its poll interval.

    ``run_once`` answers whether it did something (then the next round starts at once). An
    exception is logged and the loop carries on at the next poll."""

    name = "worker"

    def __init__(self, poll_s: float, first_delay_s: float = 0.0) -> None:
        self.poll_s = poll_s
        self._first_delay_s = first_delay_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @abstractmethod
    async def run_once(self) -> bool: ...

    def wake(self) -> None:
        """Something is due now: look rather than wait for the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Lets the round in progress finish (a query cut in half would outlive the engine),
        then stops; cancels only after the timeout."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        _, running = await asyncio.wait({task}, timeout=timeout_s)
        if running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        if self._first_delay_s > 0:
            await self._pause(self._first_delay_s)
        while not self._stopping:
            self._wake.clear()
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("worker_round_failed", worker=self.name)
                busy = False
            if not busy:
                await self._pause(self.poll_s)

    async def _pause(self, seconds: float) -> None:
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
