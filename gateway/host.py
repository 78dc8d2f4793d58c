"""A session host: a worker process that drives a shard of sessions through one driver.

``python -m gateway.host --driver sim --capacity 10 --workdir DIR`` is started by the supervisor
and speaks frames (``gateway/frames.py``) over its stdin/stdout. Everything risky (neonize's Go
library above all) happens here, so a crash takes down one shard, never the supervisor.

Standard output belongs to frames: at start the real stdout is kept for them and fd 1 is pointed
at stderr, so stray prints (Go's included) land in the log instead of corrupting the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError

from gateway.frames import Frame, FrameError, encode, encode_events, read_frame
from gateway.media import MediaStore
from sessions.commands import (
    COMMAND,
    Logout,
    MarkRead,
    RequestPairCode,
    SendMedia,
    SendReaction,
    SendText,
    SetPresence,
    SetTyping,
)
from sessions.drivers.base import Driver, DriverError, SessionDriver
from sessions.events import Event
from zapdesk.log import configure_logging
from zapdesk.tasks import TaskSet

log = structlog.get_logger("gateway.host")

FLUSH_AFTER_S = 0.002
FLUSH_MAX = 256
STOP_TIMEOUT_S = 10.0


class CommandFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def make_driver(name: str, options: dict[str, Any], media_dir: Path | None = None) -> Driver:
    """The driver, given where incoming media goes (``<data_dir>/media``, next to the
    sessions' workdir, unless the options name a ``media_dir``)."""
    options = dict(options)
    root = Path(options.pop("media_dir", None) or media_dir or "media")
    save_media = MediaStore(root).save
    driver: Driver
    if name == "sim":
        from sessions.drivers.sim import SimDriver

        driver = SimDriver(**options, save_media=save_media)
    elif name == "neonize":
        from sessions.drivers.neonize_driver import NeonizeDriver

        driver = NeonizeDriver(**options, save_media=save_media)
    else:
        raise SystemExit(f"unknown driver {name!r}")
    return driver


class Sink:
    """``emit`` for the drivers, with ``durable()`` (see sessions.drivers.base.DurableEmit)."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def __call__(self, event: Event) -> None:
        self._host.emit(event)

    async def durable(self) -> None:
        await self._host.durable()


class Host:
    def __init__(self, driver: Driver, workdir: Path, out: asyncio.WriteTransport) -> None:
        self.driver = driver
        self.workdir = workdir
        self.out = out
        self.sessions: dict[str, SessionDriver] = {}
        self._pending: list[str] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        # Events are counted as emitted; the supervisor answers how many it has stored.
        self._emitted = 0
        self._stored = 0
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._tasks = TaskSet()
        self.sink = Sink(self)

    # Events: serialized once, batched for a couple of milliseconds into one frame.

    def emit(self, event: Event) -> None:
        self._pending.append(event.model_dump_json())
        self._emitted += 1
        if len(self._pending) >= FLUSH_MAX:
            self.flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_AFTER_S, self.flush)

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._pending:
            pending, self._pending = self._pending, []
            self.out.write(encode_events(pending, upto=self._emitted))

    async def durable(self) -> None:
        """Returns once the supervisor has stored every event emitted until now."""
        target = self._emitted
        if self._stored >= target:
            return
        self.flush()
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((target, future))
        await future

    def stored(self, upto: int) -> None:
        self._stored = max(self._stored, upto)
        still = []
        for target, future in self._waiting:
            if target <= self._stored:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self._waiting = still

    def send(self, frame: Frame) -> None:
        self.flush()  # events that happened before a reply are read before it
        self.out.write(encode(frame))

    # Requests.

    async def serve(self, reader: asyncio.StreamReader) -> None:
        """Answers frames until the supervisor says shutdown or closes stdin."""
        while True:
            try:
                frame = await read_frame(reader)
            except FrameError as exc:
                log.error("bad_frame", error=str(exc))
                return
            if frame is not None and frame["op"] == "stored":
                self.stored(int(frame["upto"]))
                continue
            if frame is None or frame["op"] == "shutdown":
                await self.shutdown()
                if frame is not None:
                    self.send({"op": "reply", "req": frame.get("req"), "ok": True, "result": None})
                return
            self._tasks.spawn(self._answer(frame), f"host-{frame['op']}")

    async def _answer(self, frame: Frame) -> None:
        reply: Frame = {"op": "reply", "req": frame.get("req")}
        try:
            reply["result"] = await self.handle(frame)
            reply["ok"] = True
        except CommandFailed as exc:
            reply.update(ok=False, error={"code": exc.code, "message": exc.message})
        except DriverError as exc:
            reply.update(ok=False, error={"code": "driver_error", "message": str(exc)})
        except Exception as exc:
            log.exception("request_failed", op=frame.get("op"), session_id=frame.get("session_id"))
            reply.update(ok=False, error={"code": "internal_error", "message": repr(exc)})
        self.send(reply)

    async def handle(self, frame: Frame) -> Any:
        op = frame["op"]
        if op == "ping":
            return {"sessions": len(self.sessions)}
        session_id = str(frame.get("session_id", ""))
        if op == "start":
            if session_id not in self.sessions:
                store = self.workdir / f"{session_id}.db"
                self.sessions[session_id] = self.driver.session(session_id, store, self.sink)
            await self.sessions[session_id].start()
            return None
        session = self.sessions.get(session_id)
        if op == "stop":
            # Stopping is idempotent: a session that logged out has already left this host.
            if session is not None:
                await session.stop()
                del self.sessions[session_id]
            return None
        if session is None:
            raise CommandFailed("unknown_session", f"session {session_id!r} is not on this host")
        if op == "call":
            return await self._call(session, frame.get("command"))
        raise CommandFailed("bad_frame", f"unknown op {op!r}")

    async def _call(self, session: SessionDriver, raw: Any) -> Any:
        try:
            command = COMMAND.validate_python(raw)
        except ValidationError as exc:
            raise CommandFailed("bad_command", str(exc).splitlines()[0]) from None
        match command:
            case SendText() | SendMedia() | SendReaction():
                return (await session.send(command)).model_dump(mode="json")
            case MarkRead():
                await session.mark_read(command)
            case SetTyping():
                await session.typing(command)
            case SetPresence():
                await session.presence(command)
            case RequestPairCode():
                return (await session.pair_code(command.phone)).model_dump(mode="json")
            case Logout():
                await session.logout()
                self.sessions.pop(session.session_id, None)
        return None

    async def shutdown(self) -> None:
        await self._tasks.cancel()
        for session_id, session in list(self.sessions.items()):
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await session.stop()
            except Exception:
                log.exception("stop_failed", session_id=session_id)
        self.sessions.clear()
        await self.driver.close()
        self.flush()


async def run(driver_name: str, options: dict[str, Any], capacity: int, workdir: Path) -> int:
    loop = asyncio.get_running_loop()
    # Keep the real stdout for frames; everything else written to fd 1 goes to stderr.
    frames_fd = os.dup(1)
    os.dup2(2, 1)
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(frames_fd, "wb", 0))

    driver = make_driver(driver_name, options, workdir.parent / "media")
    await driver.open(capacity)
    host = Host(driver, workdir, out)
    host.send({"op": "hello", "pid": os.getpid(), "driver": driver_name, "capacity": capacity})
    serving = asyncio.create_task(host.serve(reader), name="host-serve")
    # SIGTERM ends the host like a shutdown frame; SIGINT is the supervisor's to handle.
    loop.add_signal_handler(signal.SIGTERM, serving.cancel)
    try:
        await serving
    except asyncio.CancelledError:
        await host.shutdown()
    out.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.host")
    parser.add_argument("--driver", required=True)
    parser.add_argument("--options", default="{}", help="driver options as JSON")
    parser.add_argument("--capacity", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", default="auto", choices=["auto", "console", "json"])
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(args.log_level, args.log_format, service="host")
    args.workdir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(args.driver, json.loads(args.options), args.capacity, args.workdir))


if __name__ == "__main__":
    sys.exit(main())
