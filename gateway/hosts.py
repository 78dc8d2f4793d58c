"""One session-host worker process, seen from the supervisor: spawn it, talk frames to it,
watch its heartbeat, kill it when it stops answering."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from gateway.frames import Frame, FrameError, encode, read_frame
from zapdesk.proc import DIE_WITH_PARENT

log = structlog.get_logger("gateway.hosts")

HELLO_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
HEARTBEAT_S = 2.0
HEARTBEAT_MISSES = 3
SHUTDOWN_TIMEOUT_S = 20.0


class HostError(Exception):
    """A request the host did not carry out; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


OnEvents = Callable[["HostProcess", list[dict[str, Any]]], Awaitable[None]]
OnExit = Callable[["HostProcess"], None]


class HostProcess:
    def __init__(
        self,
        index: int,
        *,
        driver: str,
        options: dict[str, Any],
        capacity: int,
        workdir: Path,
        on_events: OnEvents,
        on_exit: OnExit,
        log_level: str = "info",
        log_format: str = "auto",
    ) -> None:
        self.index = index
        self.capacity = capacity
        self.sessions: set[str] = set()
        self._argv = [
            sys.executable,
            "-m",
            "gateway.host",
            "--driver",
            driver,
            "--options",
            json.dumps(options),
            "--capacity",
            str(capacity),
            "--workdir",
            str(workdir),
            "--log-level",
            log_level,
            "--log-format",
            log_format,
        ]
        self._on_events = on_events
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_req = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.pid: int | None = None
        self.started_at: float | None = None  # monotonic, once it said hello

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def free(self) -> int:
        return self.capacity - len(self.sessions)

    async def spawn(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=DIE_WITH_PARENT,
            limit=2**24,
        )
        self.pid = self._process.pid
        stdout = self._process.stdout
        if stdout is None:  # pragma: no cover - asked for a pipe above
            raise HostError("host_failed", "host has no stdout")
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                hello = await read_frame(stdout)
        except (TimeoutError, FrameError) as exc:
            self.kill()
            raise HostError("host_failed", f"host {self.index} did not start: {exc!r}") from None
        if hello is None or hello.get("op") != "hello":
            self.kill()
            raise HostError("host_failed", f"host {self.index} exited during start")
        self.started_at = time.monotonic()
        log.info("host_started", host=self.index, pid=self.pid)
        self._tasks = [
            asyncio.create_task(self._read(stdout), name=f"host-{self.index}-read"),
            asyncio.create_task(self._heartbeat(), name=f"host-{self.index}-heartbeat"),
        ]

    async def request(self, op: str, wait_s: float = REQUEST_TIMEOUT_S, **fields: Any) -> Any:
        if not self.alive or self._process is None or self._process.stdin is None:
            raise HostError("host_unavailable", f"session host {self.index} is not running")
        self._next_req += 1
        req = self._next_req
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req] = future
        try:
            self._process.stdin.write(encode({"op": op, "req": req, **fields}))
            async with asyncio.timeout(wait_s):
                return await future
        except TimeoutError:
            raise HostError("host_timeout", f"session host {self.index} did not answer") from None
        finally:
            self._pending.pop(req, None)

    def _write(self, frame: Frame) -> None:
        if self.alive and self._process is not None and self._process.stdin is not None:
            self._process.stdin.write(encode(frame))

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        try:
            while (frame := await read_frame(stdout)) is not None:
                self._dispatch(frame)
                if frame["op"] == "events":
                    # Sequential on purpose: the outbox write finishes before the next frame
                    # is read, which keeps per-session order and pushes back on a fast host.
                    await self._on_events(self, frame["events"])
                    self._write({"op": "stored", "upto": frame.get("upto", 0)})
        except FrameError as exc:
            log.error("host_stream_broken", host=self.index, error=str(exc))
            self.kill()
        finally:
            await self._ended()

    def _dispatch(self, frame: Frame) -> None:
        if frame["op"] != "reply":
            return
        future = self._pending.get(frame.get("req", -1))
        if future is None or future.done():
            return
        if frame.get("ok"):
            future.set_result(frame.get("result"))
        else:
            error = frame.get("error") or {}
            future.set_exception(
                HostError(str(error.get("code", "host_error")), str(error.get("message", "")))
            )

    async def _heartbeat(self) -> None:
        misses = 0
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.request("ping", wait_s=HEARTBEAT_S)
                misses = 0
            except HostError:
                misses += 1
                if misses >= HEARTBEAT_MISSES:
                    log.error("host_unresponsive", host=self.index, pid=self.pid)
                    self.kill()
                    return

    async def _ended(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                await self._process.wait()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(HostError("host_crashed", f"session host {self.index} exited"))
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if not self._stopping:
            code = self._process.returncode if self._process else None
            log.error("host_exited", host=self.index, pid=self.pid, status=code)
            self._on_exit(self)

    def kill(self) -> None:
        if self.alive and self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()

    async def stop(self) -> None:
        """Asks the host to stop its sessions and exit; kills it if it does not in time."""
        self._stopping = True
        if self.alive:
            try:
                await self.request("shutdown", wait_s=SHUTDOWN_TIMEOUT_S)
            except HostError as exc:
                log.warning("host_shutdown_failed", host=self.index, error=exc.message)
            if self._process is not None and self._process.stdin is not None:
                self._process.stdin.close()
            try:
                async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                    await self._process.wait() if self._process else None
            except TimeoutError:
                self.kill()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._process is not None and self._process.returncode is None:
            await self._process.wait()
