"""Chaos: 10,000 customer messages while session hosts and the receiver are SIGKILLed at random.

The simulated WhatsApp and the gateway run in this process (the supervisor with real host
subprocesses, as in ``test_gateway_e2e``); core's stand-in is ``tests/chaos_receiver.py``, a
process of its own that logs every event it accepts. A seeded schedule kills hosts and the
receiver while the traffic flows, each kill aimed at a moment that matters (see the moments
below): a host is killed right after the outbox committed its messages by wrapping the outbox's
append (the real one runs first), or while the simulator's stream shows items it waits for; the
receiver kills itself between its commit and its answer, or in the middle of its commit.

Afterwards every message the simulator generated must have reached the receiver, exactly once
after deduplication by ``(session_id, wa_id)`` (as core deduplicates), first seen in the order
each customer sent them, and every repeat must be a redelivery: the same event again (after a
receiver kill) or the same WhatsApp message under a new event id (a host killed before the
simulator heard it was stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import DELIVERY, create_app
from gateway.hosts import HostProcess
from gateway.keys import OUTBOX, SUPERVISOR
from gateway.outbox import Outbox
from gateway.supervisor import Supervisor
from sessions.events import Event
from sessions.sim.device_socket import WORLD
from sessions.sim.server import create_app as create_sim
from tests.chaos_receiver import ReceiverProcess, Tally
from tests.test_gateway_e2e import AUTH, SECRET, settings

SEED = 20240611
NUMBERS = {"loja-a": "5511900000201", "loja-b": "5511900000202", "loja-c": "5511900000203"}
HOSTS = 2  # three numbers, two per host (settings() sets host_capacity=2)
CUSTOMERS = 10  # coprime with the three numbers: every customer writes to every number
TOTAL = 10_000
BURSTS = 25
BURST_GAP_S = 0.2
HOST_KILLS = 5
QUIET_S = 0.5  # the receiver's log must stand still this long before the counts are final
GIVE_UP_S = 5.0  # ... and when it stood still this long with messages missing, they are lost
Append = Callable[[Sequence[Event]], Awaitable[None]]

# When a kill lands, if that moment comes within a second (else: whenever). A host: while the
# simulator waits for it to acknowledge items ("unacknowledged"), or right after the outbox
# committed messages of it, before the supervisor could tell it ("stored": they must come
# again, under new event ids). The receiver: anywhere, while writing a commit, or after its
# commit and before its answer (that batch must come again, under the same event ids).
HOST_MOMENTS = ["unacknowledged", "stored"]
RECEIVER_MOMENTS = ["any", "mid_commit", "after_commit"]


@dataclass(frozen=True)
class Kill:
    at_s: float  # after the traffic starts
    target: Literal["host", "receiver"]
    moment: str
    host: int = -1
    pause_s: float = 0.0  # how long the receiver stays down

    def __str__(self) -> str:
        what = f"host {self.host}" if self.target == "host" else f"receiver {self.pause_s:.2f}s"
        return f"{self.at_s:5.2f}s kill {what} ({self.moment})"


def kill_schedule(rng: random.Random) -> list[Kill]:
    window = BURSTS * BURST_GAP_S
    kills = [
        Kill(rng.uniform(0.2, window), "host", rng.choice(HOST_MOMENTS), rng.randrange(HOSTS))
        for _ in range(HOST_KILLS)
    ]
    kills += [
        Kill(rng.uniform(0.2, window), "receiver", moment, pause_s=rng.uniform(0.2, 0.8))
        for moment in rng.sample(RECEIVER_MOMENTS, k=len(RECEIVER_MOMENTS))
    ]
    return sorted(kills, key=lambda kill: kill.at_s)


@dataclass
class Chaos:
    sim: TestServer
    receiver: ReceiverProcess
    phone: ClientSession
    gateway: TestClient[web.Request, web.Application]
    done: list[str] = field(default_factory=list)  # the kills as they happened
    killed_sessions: set[str] = field(default_factory=set)
    killed_pids: set[int] = field(default_factory=set)
    hits: Counter[str] = field(default_factory=Counter)  # kills by the moment they landed
    doomed: tuple[HostProcess, asyncio.Future[bool]] | None = None  # killed on its next append

    @property
    def supervisor(self) -> Supervisor:
        return self.gateway.app[SUPERVISOR]

    @property
    def outbox(self) -> Outbox:
        return self.gateway.app[OUTBOX]

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.gateway.request(method, path, headers=AUTH, **kwargs)
        return response.status, await response.json()

    async def sim_post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.phone.post(path, json=body) as response:
            assert response.status in (200, 201), await response.text()
            return await response.json()

    async def link(self, session_id: str, number: str) -> None:
        status, _ = await self.api("POST", "/sessions", json={"id": session_id, "name": session_id})
        assert status == 201

        async def qr() -> Any:
            status, body = await self.api("GET", f"/sessions/{session_id}/qr")
            return body if status == 200 else None

        code = (await until(qr, f"a QR code for {session_id}"))["code"]
        await self.sim_post(f"/phones/{number}/scan", {"code": code, "name": session_id})

        async def connected() -> bool:
            _, session = await self.api("GET", f"/sessions/{session_id}")
            return bool(session["state"] == "connected")

        await until(connected, f"{session_id} connected")

    async def traffic(self) -> None:
        for _ in range(BURSTS):
            burst = {"to": list(NUMBERS.values()), "count": TOTAL // BURSTS, "customers": CUSTOMERS}
            await self.sim_post("/customers/burst", burst)
            await asyncio.sleep(BURST_GAP_S)

    async def run(self, schedule: list[Kill], target: str, started: float) -> None:
        """Carries out the kills of one target in turn (hosts and the receiver run side by
        side, so a slow receiver start does not hold back the next host kill)."""
        for kill in (kill for kill in schedule if kill.target == target):
            await asyncio.sleep(started + kill.at_s - time.monotonic())
            if kill.target == "host":
                sessions, hit = await self.kill_host(kill.host, kill.moment)
                what = f"host {kill.host} {sessions}"
            else:
                hit = await self.receiver.doom(kill.moment)
                what = "receiver"
            when = kill.moment if hit else "whenever"
            self.hits[when] += 1
            self.done.append(f"{time.monotonic() - started:5.2f}s killed {what} ({when})")
            if kill.target == "receiver":
                await asyncio.sleep(kill.pause_s)
                await self.receiver.start()
                self.done.append(f"{time.monotonic() - started:5.2f}s receiver back")

    async def kill_host(self, index: int, moment: str) -> tuple[list[str], bool]:
        """SIGKILLs host ``index`` at ``moment`` once it runs again (a kill just before may
        still be healing); answers its sessions and whether the kill landed at that moment."""
        supervisor = self.supervisor

        async def running() -> HostProcess | None:
            host = supervisor.hosts.get(index)
            fresh = host is not None and host.alive and host.pid not in self.killed_pids
            return host if fresh else None

        host = await until(running, f"host {index} running again")
        sessions = sorted(host.sessions)
        if moment == "stored":
            self.doomed = (host, asyncio.get_running_loop().create_future())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    return sessions, await self.doomed[1]
            self.doomed = None
            hit = False
        else:
            hit = await soon(lambda: self.unacknowledged(host.sessions))
        self.kill(host)
        return sessions, hit

    def kill(self, host: HostProcess) -> None:
        assert host.pid is not None
        os.kill(host.pid, signal.SIGKILL)
        self.killed_pids.add(host.pid)
        self.killed_sessions.update(host.sessions)

    def unacknowledged(self, session_ids: set[str]) -> bool:
        """The simulator sent items to one of these sessions and waits for the acknowledgement
        (a host may hold them, or their events, but has not said they are stored)."""
        world = self.sim.app[WORLD]
        devices = [world.accounts[NUMBERS[session_id]].device for session_id in session_ids]
        return any(
            device is not None and device.link is not None
            and device.link.sent_upto >= device.base_seq
            for device in devices
        )  # fmt: skip

    def kill_after_append(self, append: Append) -> Append:
        """Wraps the outbox's append: once messages of the doomed host are committed, the host
        dies before the supervisor can tell it so, and the simulator must send them again."""

        async def append_then_kill(events: Sequence[Event]) -> None:
            await append(events)
            if self.doomed is None:
                return
            host, done = self.doomed
            if host.alive and any(
                event.type == "message.received" and event.session_id in host.sessions
                for event in events
            ):
                self.kill(host)
                self.doomed = None
                done.set_result(True)

        return append_then_kill


async def soon(check: Callable[[], bool], within_s: float = 1.0) -> bool:
    """Waits up to ``within_s`` for ``check()``, looking every millisecond; answers whether it
    came true."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


async def until(check: Callable[[], Awaitable[Any]], what: str, within_s: float = 20) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"not seen in {within_s} s: {what}")


@pytest.fixture
async def chaos(
    aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Chaos]:
    # A host restarts within a fraction of a second however often it is killed here; the
    # production backoff (up to 30 s) would turn the schedule into a test of patience.
    monkeypatch.setattr("gateway.supervisor.HOST_BACKOFF_S", (0.1, 0.2, 0.4))
    sim = await aiohttp_server(create_sim(qr_first_s=30, qr_next_s=10))
    receiver = ReceiverProcess(tmp_path, SECRET)
    phone = ClientSession(base_url=str(sim.make_url("/")))
    gateway: TestClient[web.Request, web.Application] | None = None
    try:
        await receiver.start()
        config = settings(tmp_path / "data", str(sim.make_url("")), receiver.url)
        gateway = TestClient(TestServer(create_app(config)))
        await gateway.start_server()
        # Retries every half second at most, so a receiver back from the dead is used at once.
        gateway.app[DELIVERY].backoff.maximum = 0.5
        made = Chaos(sim, receiver, phone, gateway)
        monkeypatch.setattr(made.outbox, "append", made.kill_after_append(made.outbox.append))
        yield made
    finally:
        if gateway is not None:
            await gateway.close()
        await receiver.kill()
        await phone.close()


class Sent(NamedTuple):
    """A message as the simulator made it: the ground truth."""

    session_id: str
    customer: str
    wa_id: str
    text: str


async def sent_by_customers(chaos: Chaos) -> list[Sent]:
    """Every customer message, in the order each customer sent it (their phone's view)."""
    session_of = {number: session_id for session_id, number in NUMBERS.items()}
    sent = []
    for n in range(1, CUSTOMERS + 1):
        customer = f"5599{n:09d}"  # how the burst names its customers
        async with chaos.phone.get(f"/customers/{customer}/messages") as response:
            view = await response.json()
        sent += [
            Sent(session_of[m["business"]], customer, m["wa_id"], m["text"])
            for m in view["messages"]
            if m["sender"] == "customer"
        ]
    return sent


def discrepancies(sent: list[Sent], tally: Tally) -> list[str]:
    """Messages first seen before one their customer sent earlier, or not as they were sent."""
    last: dict[tuple[str, str], int] = {}
    wrong = []
    for message in sent:
        position, record = tally.first[(message.session_id, message.wa_id)]
        conversation = (message.session_id, message.customer)
        if position < last.get(conversation, -1):
            wrong.append(f"{conversation}: {message.text!r} overtook an earlier message")
        last[conversation] = position
        text, chat = record["data"]["text"], record["data"]["chat"]["pn"]
        if (text, chat) != (message.text, f"{message.customer}@s.whatsapp.net"):
            wrong.append(f"{message.wa_id}: {text!r} from {chat}")
    return wrong


async def settle(chaos: Chaos, expected: set[tuple[str, str]], within_s: float) -> Tally:
    """Waits until everything arrived, the outbox is empty, every session is connected again
    and the receiver's log stood still for QUIET_S; answers the tally of the log. Gives up
    early when all is quiet but messages are missing: nothing would bring them any more."""
    outbox, supervisor = chaos.outbox, chaos.supervisor
    deadline = time.monotonic() + within_s
    count, still_since = -1, time.monotonic()
    while True:
        if (now := chaos.receiver.poll()) != count:
            count, still_since = now, time.monotonic()
        tally = Tally.of(chaos.receiver.records)
        missing = expected - tally.first.keys()
        states = {sid: supervisor.live[sid].state.value for sid in NUMBERS}
        quiet = (
            outbox.depth() == 0
            and all(state == "connected" for state in states.values())
            and all(host.alive for host in supervisor.hosts.values())
        )
        still_s = time.monotonic() - still_since
        if quiet and not missing and still_s >= QUIET_S:
            return tally
        if time.monotonic() > deadline or (quiet and still_s >= GIVE_UP_S):
            raise AssertionError(
                f"{len(missing)} messages never arrived (e.g. {sorted(missing)[:3]}); "
                f"outbox depth {outbox.depth()}, sessions {states}"
            )
        await asyncio.sleep(0.1)


async def test_10000_messages_survive_killed_hosts_and_receiver(chaos: Chaos) -> None:
    began = time.monotonic()
    schedule = kill_schedule(random.Random(SEED))  # noqa: S311 - a schedule, not a secret
    print(f"chaos seed {SEED}, schedule:", *schedule, sep="\n  ")
    await asyncio.gather(*(chaos.link(sid, number) for sid, number in NUMBERS.items()))

    async with asyncio.TaskGroup() as group:
        started = time.monotonic()
        group.create_task(chaos.traffic(), name="chaos-traffic")
        group.create_task(chaos.run(schedule, "host", started), name="chaos-host-kills")
        group.create_task(chaos.run(schedule, "receiver", started), name="chaos-receiver-kills")
    print("executed:", *sorted(chaos.done), sep="\n  ")
    sent = await sent_by_customers(chaos)
    assert len(sent) == TOTAL
    expected = {(message.session_id, message.wa_id) for message in sent}
    assert len(expected) == TOTAL
    tally = await settle(chaos, expected, within_s=40 - (time.monotonic() - began))

    supervisor, outbox = chaos.supervisor, chaos.outbox
    print(
        f"figures: {tally.deliveries} events committed by the receiver, "
        f"{len(tally.first)} distinct messages, {tally.resent} resent with the same event id, "
        f"{tally.redelivered} redelivered under a new event id in {sorted(tally.redelivered_in)}, "
        f"{chaos.receiver.torn} torn log lines, {supervisor.host_restarts} host restarts, "
        f"{chaos.receiver.lives - 1} receiver restarts, {time.monotonic() - began:.1f} s, "
        f"kills by moment: {dict(chaos.hits)}",
    )  # fmt: skip
    assert tally.bad_signatures == 0
    assert outbox.parked_count() == 0
    assert tally.first.keys() == expected  # every message once, nothing that was not sent
    assert discrepancies(sent, tally) == []  # in order per conversation, as sent
    assert tally.altered == []
    # A new event id for a message only ever comes from a host that died before acknowledging.
    assert tally.redelivered_in <= chaos.killed_sessions
    assert supervisor.host_restarts == len(chaos.killed_pids)
    assert chaos.receiver.lives == len(RECEIVER_MOMENTS) + 1
    # Each kill at its moment left its mark: a batch committed but not answered came again
    # under the same event ids, a torn commit was left behind (and its batch came again
    # whole), messages in the outbox but never acknowledged to WhatsApp came under new ids.
    assert tally.resent >= chaos.hits["after_commit"]
    assert chaos.receiver.torn >= chaos.hits["mid_commit"]
    assert tally.redelivered >= chaos.hits["stored"]
