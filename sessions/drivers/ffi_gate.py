"""One readers/writer gate in front of neonize's Go bridge, per session-host process.

The bridge keeps its sessions in plain Go maps. ``Neonize()`` (started by ``connect()``) and
``Stop()`` write those maps; every other FFI call reads them. Go aborts the whole process on a
write that overlaps another write or a read, so connect and stop run alone (exclusive), and
every other call may run alongside its peers (shared). Waiters are served first come, first
served: a queued connect or stop holds back later readers, so a steady stream of sends cannot
starve it.

No FFI call is abandoned half-way: its worker thread keeps running in Go whatever asyncio
does, so a cancelled caller keeps its lease until the call has returned, then sees the
cancellation.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Connectable(Protocol):
    """What the gate needs of a neonize client (``NewAClient``)."""

    async def connect(self, proxy_settings: Any = None) -> asyncio.Task[None]: ...

    async def stop(self) -> None: ...


class FFIGate:
    def __init__(self, connect_grace_s: float = 1.0) -> None:
        # How long Neonize() may still be writing the maps after connect() handed back its
        # task: the writes happen when the worker thread starts, long before any network I/O.
        self.connect_grace_s = connect_grace_s
        self._readers = 0
        self._writing = False
        self._queue: deque[tuple[bool, asyncio.Future[None]]] = deque()

    @property
    def busy(self) -> bool:
        return self._writing or self._readers > 0 or bool(self._queue)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Runs one ordinary FFI call (send, upload, mark read, ...) under a shared lease."""
        async with self.shared():
            return await _to_completion(fn(*args, **kwargs))

    async def connect(self, client: Connectable, proxy_settings: Any = None) -> asyncio.Task[None]:
        """Starts ``client.connect()`` alone and answers neonize's connect task.

        The task runs for the whole session; it is never cancelled here (cancelling a dialing
        connect blocks the event loop inside Go)."""
        async with self.exclusive():
            task = await _to_completion(client.connect(proxy_settings))
            await asyncio.wait({task}, timeout=self.connect_grace_s)
        return task

    async def stop(self, client: Connectable) -> None:
        async with self.exclusive():
            await _to_completion(client.stop())

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        await self._acquire(exclusive=False)
        try:
            yield
        finally:
            self._release(exclusive=False)

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        await self._acquire(exclusive=True)
        try:
            yield
        finally:
            self._release(exclusive=True)

    def _free_for(self, exclusive: bool) -> bool:
        if exclusive:
            return not self._writing and self._readers == 0
        return not self._writing

    def _take(self, exclusive: bool) -> None:
        if exclusive:
            self._writing = True
        else:
            self._readers += 1

    async def _acquire(self, exclusive: bool) -> None:
        if not self._queue and self._free_for(exclusive):
            self._take(exclusive)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (exclusive, waiter)
        self._queue.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(exclusive)  # granted just as we were cancelled: hand it on
            else:
                if entry in self._queue:
                    self._queue.remove(entry)
                self._grant()  # a writer leaving the head of the queue may free readers
            raise

    def _release(self, exclusive: bool) -> None:
        if exclusive:
            self._writing = False
        else:
            self._readers -= 1
        self._grant()

    def _grant(self) -> None:
        while self._queue:
            exclusive, waiter = self._queue[0]
            if waiter.done():  # cancelled, its task not yet resumed to leave the queue
                self._queue.popleft()
                continue
            if not self._free_for(exclusive):
                return
            self._queue.popleft()
            self._take(exclusive)
            waiter.set_result(None)
            if exclusive:
                return


async def _to_completion(call: Awaitable[T]) -> T:
    """Awaits an FFI call to its end even if the caller is cancelled meanwhile."""
    task = asyncio.ensure_future(call)
    interrupted = False
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            interrupted = True
    if interrupted:
        raise asyncio.CancelledError
    return task.result()
