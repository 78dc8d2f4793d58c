"""Offline test kit for the neonize driver: neonize's own objects, no network.

* ``FakeGo`` stands in for neonize's FFI backend, the object every ``NewAClient`` sends its Go
  calls to (name-mangled ``_NewAClient__client``): it records each call and answers what the
  Go function would. ``FakeClients`` is a ``new_client`` factory for ``NeonizeDriver`` that
  makes real ``NewAClient``s wired to fakes.
* ``push`` and ``push_qr`` deliver serialized events through neonize's own entry points
  (``Event.execute`` and the client's QR callback) from a foreign thread, as Go does.
* Builders make event protobufs with every required JID field set.
* ``python -m tests.neonize_kit <scenario> <workdir>`` runs the scenarios that call the real Go
  library (``offline-retries``, ``gate-stress``) in a process of their own, so that a Go fatal
  error fails a test instead of killing pytest; the result is one ``RESULT {json}`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sessions.drivers.ffi_gate import FFIGate
from sessions.drivers.neonize_driver import NeonizeDriver
from sessions.events import Event, SessionStatusEvent, StatusData
from sessions.states import SessionState

# Test modules take neonize from here: the driver above has already imported it with care for
# the `uname` pipe neonize leaves open (see neonize_events), which an unguarded first import
# would turn into a ResourceWarning, an error under pytest.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ResourceWarning)
    import neonize.aioze.events as nz_events
    from neonize._binder import ProxySettings
    from neonize.aioze.client import NewAClient
    from neonize.events import EVENT_TO_INT
    from neonize.exc import NeonizeError
    from neonize.proto import Neonize_pb2 as N
    from neonize.proto.waCommon import WACommon_pb2 as C
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as E
    from neonize.utils.enum import ChatPresence, ChatPresenceMedia, MediaType, Presence

Message = E.Message
__all__ = [
    "C",
    "ChatPresence",
    "ChatPresenceMedia",
    "E",
    "MediaType",
    "N",
    "NewAClient",
    "Presence",
    "nz_events",
]

ROOT = Path(__file__).resolve().parents[1]
ME_PN, ME_LID = "5511900000001", "900000000000001"
CUSTOMER_PN, CUSTOMER_LID = "5511988887777", "123456789012345"
T0_S = 1_767_225_600  # 2026-01-01T00:00:00Z


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> Any:
    return N.JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def source(
    chat: Any,
    sender: Any,
    *,
    sender_alt: Any = None,
    recipient_alt: Any = None,
    from_me: bool = False,
    group: bool = False,
) -> Any:
    made = N.MessageSource(Chat=chat, Sender=sender, IsFromMe=from_me, IsGroup=group)
    if sender_alt is not None:
        made.SenderAlt.CopyFrom(sender_alt)
    if recipient_alt is not None:
        made.RecipientAlt.CopyFrom(recipient_alt)
    return made


def message_event(
    message: Any,
    *,
    wa_id: str = "3EB0C0FFEE000001",
    src: Any = None,
    push_name: str = "Alice",
    timestamp_ms: int = T0_S * 1000 + 250,
) -> Any:
    """A MessageEv from a customer (phone JID, device 3) unless ``src`` says otherwise."""
    if src is None:
        src = source(jid(CUSTOMER_PN), jid(CUSTOMER_PN, device=3))
    info = N.MessageInfo(
        MessageSource=src, ID=wa_id, Pushname=push_name, Timestamp=timestamp_ms, Type="text"
    )
    return N.Message(Info=info, Message=message)


def _deliver(client: Any, events: tuple[Any, ...]) -> None:
    for event in events:
        data = event.SerializePartialToString()
        buffer = ctypes.create_string_buffer(data, len(data))
        client.event.execute(
            client.uuid, ctypes.addressof(buffer), len(data), EVENT_TO_INT[type(event)]
        )


async def push(client: Any, *events: Any) -> None:
    """Delivers events the way Go does: bytes into ``Event.execute``, from another thread."""
    await asyncio.to_thread(_deliver, client, events)


def _deliver_qr(client: Any, code: str) -> None:
    buffer = ctypes.create_string_buffer(code.encode())  # NUL-terminated, like C.CString
    client._NewAClient__onQr(client.uuid, ctypes.addressof(buffer))


async def push_qr(client: Any, code: str) -> None:
    await asyncio.to_thread(_deliver_qr, client, code)


def device(pn: str = ME_PN, lid: str = ME_LID, name: str = "Acme Support") -> Any:
    """The code-0 event Go sends right after login; neonize keeps it as ``client.me``."""
    return N.Device(
        JID=jid(pn, device=7), LID=jid(lid, "lid"), PushName=name, Platform="", Initialized=True
    )


class FakeGo:
    """neonize's FFI backend, recorded. ``Neonize()`` runs until ``Stop()``, like a session."""

    def __init__(self, connect_error: str = "") -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.connect_error = connect_error
        self.running = asyncio.Event()
        self.stopped = asyncio.Event()
        self.stop_release: asyncio.Event | None = None  # set it to make Stop() hang until set
        self.answers: dict[str, Any] = {}
        self._ids = itertools.count(1)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]

    def sent(self) -> list[Any]:
        """The waE2E.Message of every SendMessage call, decoded."""
        return [Message.FromString(args[3]) for args in self.args("SendMessage")]

    async def Neonize(self, *args: Any) -> bytes:  # the Go functions' names
        self.calls.append(("Neonize", args))
        self.running.set()
        if self.connect_error:
            return self.connect_error.encode()
        await self.stopped.wait()
        return b""

    async def Stop(self, uuid: bytes) -> None:
        self.calls.append(("Stop", (uuid,)))
        if self.stop_release is not None:
            await self.stop_release.wait()
        self.stopped.set()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)

        async def call(*args: Any) -> Any:
            self.calls.append((name, args))
            if name in self.answers:
                answer = self.answers[name]
                return answer(*args) if callable(answer) else answer
            return self._default(name, args)

        return call

    def _default(self, name: str, args: tuple[Any, ...]) -> Any:
        if name == "SendMessage":
            response = N.SendResponse(ID=f"3EB0{next(self._ids):016X}", Timestamp=T0_S + 60)
            return N.SendMessageReturnFunction(SendResponse=response).SerializePartialToString()
        if name == "Upload":
            size = args[2]
            response = N.UploadResponse(
                url="https://mmg.whatsapp.net/d/f/fake.enc",
                DirectPath="/v/t62.7118-24/fake",
                Handle="",
                MediaKey=b"\x01" * 32,
                FileEncSHA256=b"\x02" * 32,
                FileSHA256=b"\x03" * 32,
                FileLength=size,
            )
            return N.UploadReturnFunction(UploadResponse=response).SerializePartialToString()
        if name == "PairPhone":
            return N.PairPhoneReturnFunction(Code="ABCD-EFGH").SerializeToString()
        if name in {"MarkRead", "SendChatPresence", "SendPresence", "Logout"}:
            return b""  # Go's empty error string
        raise AssertionError(f"FakeGo: unexpected FFI call {name}")


class FakeClients:
    """``new_client`` for NeonizeDriver: real NewAClients whose Go backend is a FakeGo."""

    def __init__(self, *connect_errors: str) -> None:
        self.connect_errors = list(connect_errors)  # one per attempt, then attempts succeed
        self.made: list[tuple[Any, FakeGo]] = []

    def __call__(self, store: str) -> Any:
        client = NewAClient(store)
        fake = FakeGo(self.connect_errors.pop(0) if self.connect_errors else "")
        client._NewAClient__client = fake
        self.made.append((client, fake))
        return client

    @property
    def client(self) -> Any:
        return self.made[-1][0]

    @property
    def go(self) -> FakeGo:
        return self.made[-1][1]

    async def running(self, count: int = 1, within: float = 2.0) -> None:
        """Until the ``count``-th client has entered Neonize()."""
        await wait_until(lambda: len(self.made) >= count, within)
        async with asyncio.timeout(within):
            await self.made[count - 1][1].running.wait()


class Emitted(list[Event]):
    """What a session emitted, in order; ``until`` waits for a matching event."""

    def __call__(self, event: Event) -> None:
        self.append(event)

    def statuses(self) -> list[StatusData]:
        return [event.data for event in self if isinstance(event, SessionStatusEvent)]

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self if isinstance(event, kind)]

    async def until(self, match: Callable[[Event], bool], within: float = 2.0) -> Any:
        await wait_until(lambda: any(match(event) for event in self), within)
        return next(event for event in self if match(event))

    async def status(self, state: SessionState, within: float = 2.0) -> StatusData:
        event = await self.until(
            lambda e: isinstance(e, SessionStatusEvent) and e.data.state is state, within
        )
        return event.data  # type: ignore[no-any-return]


async def wait_until(check: Callable[[], bool], within: float = 2.0) -> None:
    """Polls ``check`` every couple of milliseconds; TimeoutError after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.002)


# Scenarios with the real Go library: run only through ``python -m tests.neonize_kit``.


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def refusing_port() -> socket.socket:
    """A loopback socket bound but not listening: connections to it are refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


async def offline_retries(workdir: Path, retries: int) -> dict[str, Any]:
    """A session whose every connect fails offline, through a refusing loopback proxy, so the
    outcome does not depend on how this machine resolves web.whatsapp.com."""
    proxy = refusing_port()
    port = proxy.getsockname()[1]
    lifecycle: list[str] = []

    def new_client(store: str) -> Any:
        client = NewAClient(store)
        number = sum(entry.startswith("new") for entry in lifecycle) + 1
        lifecycle.append(f"new{number}")
        for method in ("connect", "stop"):
            original = getattr(client, method)

            async def traced(*args: Any, _original: Any = original, _name: str = method) -> Any:
                lifecycle.append(f"{_name}{number}")
                return await _original(*args)

            setattr(client, method, traced)
        return client

    driver = NeonizeDriver(
        proxy=f"http://127.0.0.1:{port}",
        retry_base_s=0.01,
        retry_max_s=0.08,
        connect_grace_s=0.5,
        new_client=new_client,
    )
    await driver.open(4)
    emitted = Emitted()
    session = driver.session("offline", workdir / "offline.db", emitted)
    fds_before = open_fds()
    started = time.monotonic()
    await session.start()

    def reconnects() -> list[StatusData]:
        return [s for s in emitted.statuses() if s.state is SessionState.RECONNECTING]

    async def wait_reconnects(count: int) -> None:
        await wait_until(lambda: len(reconnects()) >= count, 20)

    await wait_reconnects(1)
    first_failure_s = time.monotonic() - started
    fds_after_first = open_fds()
    await wait_reconnects(retries)
    fds_after_retries = open_fds()
    go_before_opening = driver.failed_connects

    # The way opens: the proxy answers, hangs up on Go's CONNECT, and the next retries reach Go.
    go_attempts = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal go_attempts
        with_request = (await reader.readline()).startswith(b"CONNECT")
        go_attempts += with_request
        writer.close()

    proxy.listen()
    server = await asyncio.start_server(hang_up, sock=proxy)
    await wait_until(
        lambda: go_attempts >= 2 and driver.failed_connects >= go_before_opening + 2, 20
    )
    server.close()
    await server.wait_closed()
    await session.stop()
    await driver.close()
    return {
        "first_failure_s": round(first_failure_s, 3),
        "statuses": [
            [s.state.value, s.reason.value if s.reason else None] for s in emitted.statuses()
        ],
        "delays": [s.retry_in_s for s in reconnects()],
        "fds_before": fds_before,
        "fds_after_first": fds_after_first,
        "fds_after_retries": fds_after_retries,
        "retries": len(reconnects()),
        "go_failures_while_closed": go_before_opening,
        "go_attempts_when_open": go_attempts,
        "go_failures_total": driver.failed_connects,
        "lifecycle": lifecycle,
        "store_exists": (workdir / "offline.db").exists(),
    }


class GateMonitor:
    """Watches the FFI calls made under the gate from the inside, on the loop thread."""

    def __init__(self) -> None:
        self.exclusive = 0
        self.readers = 0
        self.max_readers = 0
        self.reads = 0
        self.contended_reads = 0
        self.exclusive_sections = 0
        self.violations: list[str] = []

    def enter_exclusive(self, what: str) -> None:
        if self.exclusive or self.readers:
            self.violations.append(
                f"{what} with {self.exclusive} writer(s), {self.readers} readers"
            )
        self.exclusive += 1
        self.exclusive_sections += 1

    def leave_exclusive(self) -> None:
        self.exclusive -= 1

    async def read(self, client: Any) -> bool:
        if self.exclusive:
            self.violations.append("a reader ran inside an exclusive section")
        self.readers += 1
        self.max_readers = max(self.max_readers, self.readers)
        try:
            return bool(await client.is_connected)
        finally:
            self.readers -= 1
            self.reads += 1


async def gate_stress(workdir: Path, sessions: int, cycles: int) -> dict[str, Any]:
    """Sessions connecting and stopping concurrently through one gate while readers call
    ``is_connected`` on resident sessions, every call watched by a GateMonitor."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(sessions + 24))
    gate = FFIGate(connect_grace_s=0.5)
    proxy = refusing_port()
    settings = ProxySettings(proxy_address=f"http://127.0.0.1:{proxy.getsockname()[1]}")
    monitor = GateMonitor()

    def client_for(name: str) -> Any:
        client = NewAClient(str(workdir / f"{name}.db"))
        client._stop_finalizer.detach()  # stops go through the gate only
        return client

    async def connect(client: Any) -> None:
        original = client.connect

        async def watched(*args: Any) -> Any:
            monitor.enter_exclusive("connect")
            return await original(*args)

        client.connect = watched
        try:
            task = await gate.connect(client, settings)
        finally:
            monitor.leave_exclusive()  # gate.connect returns the moment it releases the lease
        with contextlib.suppress(NeonizeError):
            await task

    async def stop(client: Any) -> None:
        original = client.stop

        async def watched() -> None:
            monitor.enter_exclusive("stop")
            try:
                await original()
            finally:
                monitor.leave_exclusive()

        client.stop = watched
        await gate.stop(client)

    residents = [client_for(f"resident{i}") for i in range(6)]
    for client in residents:
        await connect(client)
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            for client in residents:
                sections = monitor.exclusive_sections
                await gate.call(monitor.read, client)
                # A connect or stop ran while this read waited: the two really interleaved.
                monitor.contended_reads += monitor.exclusive_sections > sections

    async def lifecycle(number: int) -> int:
        for cycle in range(cycles):
            client = client_for(f"s{number}-{cycle}")
            await connect(client)
            await stop(client)
        return cycles

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    started = time.monotonic()
    finished = await asyncio.gather(*(lifecycle(n) for n in range(sessions)))
    done.set()
    await asyncio.gather(*readers)
    for client in residents:
        await stop(client)
    proxy.close()
    return {
        "cycles": sum(finished),
        "seconds": round(time.monotonic() - started, 2),
        "exclusive_sections": monitor.exclusive_sections,
        "reads": monitor.reads,
        "contended_reads": monitor.contended_reads,
        "max_concurrent_readers": monitor.max_readers,
        "violations": monitor.violations[:10],
    }


def main(argv: list[str]) -> None:
    scenario, workdir = argv[0], Path(argv[1])
    if scenario == "offline-retries":
        result = asyncio.run(offline_retries(workdir, int(argv[2])))
    elif scenario == "gate-stress":
        result = asyncio.run(gate_stress(workdir, int(argv[2]), int(argv[3])))
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    print("RESULT " + json.dumps(result), flush=True)
    # Go keeps worker threads of its own; the scenario is over, do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
