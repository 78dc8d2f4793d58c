"""Core's event endpoint as a process of its own, so the chaos test can SIGKILL it; with
``ReceiverProcess`` (the test's handle on it) and ``Tally`` (its log, deduplicated as core does).

``python tests/chaos_receiver.py --port 0 --log FILE`` (the webhook secret in the environment
variable ``CHAOS_WEBHOOK_SECRET``) serves ``POST /internal/events`` as core does: it checks the
signature and the events, commits them (one JSON line per event appended to FILE, the whole
batch in one write) and only then answers 200. A bad signature is logged as a line of its own
and answered 401. Once listening it prints ``listening <port>`` on stdout.

Besides a SIGKILL from outside at any moment, it can be told to die at the worst moments:
after SIGUSR1 it kills itself right after its next commit, before answering (the gateway must
send that batch again, with the same event ids); after SIGUSR2 it kills itself while writing
the last line of its next commit (a torn line, which readers ignore: that batch was never
answered either, so it comes again whole).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from sessions.events import EventBatch
from sessions.signing import HEADER, BadSignature, verify

PROGRAM = Path(__file__)
SECRET_VARIABLE = "CHAOS_WEBHOOK_SECRET"
DOOM_SIGNALS = {"after_commit": signal.SIGUSR1, "mid_commit": signal.SIGUSR2}


# The receiver program.


class Receiver:
    def __init__(self, secret: str, log_fd: int) -> None:
        self.secret = secret
        self.log_fd = log_fd
        self.doom: str | None = None  # a key of DOOM_SIGNALS, once that signal came

    async def events(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(self.secret, request.headers.get(HEADER), body)
        except BadSignature as exc:
            self.commit(json.dumps({"bad_signature": str(exc)}) + "\n")
            return web.json_response({"error": {"code": "bad_signature"}}, status=401)
        try:
            EventBatch.model_validate_json(body)
        except ValidationError as exc:
            error = {"code": "validation_failed", "message": str(exc).splitlines()[0]}
            return web.json_response({"error": error}, status=422)
        self.commit("".join(json.dumps(raw) + "\n" for raw in json.loads(body)["events"]))
        return web.json_response({"accepted": True})

    def commit(self, lines: str) -> None:
        data = lines.encode()
        if self.doom == "mid_commit":  # dies writing the last line: the rest is in
            os.write(self.log_fd, data[:-2])
            die()
        os.write(self.log_fd, data)
        if self.doom == "after_commit":
            die()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def serve(port: int, secret: str, log: Path) -> None:
    receiver = Receiver(secret, os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    loop = asyncio.get_running_loop()
    for doom, signum in DOOM_SIGNALS.items():
        loop.add_signal_handler(signum, setattr, receiver, "doom", doom)
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/internal/events", receiver.events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sys.stdout.write(f"listening {runner.addresses[0][1]}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()  # until killed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python tests/chaos_receiver.py")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, os.environ[SECRET_VARIABLE], args.log))


# The test's handle.


class ReceiverProcess:
    """The receiver as a subprocess: killed and started again on the same port, each life
    logging to a file of its own; ``poll`` reads the lines they committed, in order."""

    def __init__(self, directory: Path, secret: str) -> None:
        self.directory = directory
        self.secret = secret
        self.port = 0
        self.lives = 0
        self.records: list[dict[str, Any]] = []
        self.torn = 0  # half-written last lines of killed lives (never answered, so resent)
        self._process: asyncio.subprocess.Process | None = None
        self._reading = (1, 0)  # life, offset

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.lives += 1
        self._process = process = await asyncio.create_subprocess_exec(
            sys.executable, str(PROGRAM), "--port", str(self.port),
            "--log", str(self._log(self.lives)),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, SECRET_VARIABLE: self.secret},
        )  # fmt: skip
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = await process.stdout.readline()
        assert line.startswith(b"listening "), line
        self.port = int(line.split()[1])

    async def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def doom(self, moment: str) -> bool:
        """Has the receiver die at ``moment`` (a key of DOOM_SIGNALS, or ``any`` for now) if a
        batch comes within a second, else kills it now; answers whether it died at ``moment``."""
        process = self._process
        assert process is not None
        if moment not in DOOM_SIGNALS:
            await self.kill()
            return True
        process.send_signal(DOOM_SIGNALS[moment])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await process.wait()
        died = process.returncode is not None
        await self.kill()
        return died

    def _log(self, life: int) -> Path:
        return self.directory / f"receiver-{life}.jsonl"

    def poll(self) -> int:
        """Reads what was committed since the last poll; answers how many records there are."""
        life, offset = self._reading
        while True:
            path = self._log(life)
            data = path.read_bytes()[offset:] if path.exists() else b""
            complete = data.rfind(b"\n") + 1
            self.records.extend(json.loads(line) for line in data[:complete].splitlines())
            offset += complete
            if life >= self.lives:
                break
            self.torn += bool(data[complete:])  # an earlier life ends where it was killed
            life, offset = life + 1, 0
        self._reading = (life, offset)
        return len(self.records)


@dataclass
class Tally:
    """What the receiver saw, deduplicated as core does."""

    deliveries: int = 0  # events committed, repeats included
    bad_signatures: int = 0
    resent: int = 0  # the same event id again: the outbox retried after a receiver kill
    redelivered: int = 0  # the same WhatsApp message under a new event id: a host was killed
    redelivered_in: set[str] = field(default_factory=set)
    altered: list[str] = field(default_factory=list)  # repeats that differ from the original
    # (session_id, wa_id) -> where in the log the message was first seen, and that record
    first: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> Tally:
        tally = cls()
        by_id: dict[str, dict[str, Any]] = {}
        for position, record in enumerate(records):
            if "bad_signature" in record:
                tally.bad_signatures += 1
                continue
            tally.deliveries += 1
            if record["id"] in by_id:
                tally.resent += 1
                if by_id[record["id"]] != record:
                    tally.altered.append(f"event {record['id']} came back different")
                continue
            by_id[record["id"]] = record
            if record["type"] != "message.received":
                continue
            key = (record["session_id"], record["data"]["wa_id"])
            if key in tally.first:
                tally.redelivered += 1
                tally.redelivered_in.add(key[0])
                if tally.first[key][1]["data"] != record["data"]:
                    tally.altered.append(f"message {key} came back different")
                continue
            tally.first[key] = (position, record)
        return tally


if __name__ == "__main__":
    main()
