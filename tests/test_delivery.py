"""Webhook delivery to a real receiver on loopback that checks signatures the way core does:
everything appended reaches core, signed, in each session's order, through outages, errors
and restarts; one refused event is parked and nothing else is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port
from pytest_aiohttp import AiohttpServer

from gateway.delivery import Delivery
from gateway.outbox import Outbox
from sessions.events import Event, EventBatch
from sessions.signing import HEADER, BadSignature, verify
from tests.test_outbox import message

SECRET = "test-webhook-secret"
StartDelivery = Callable[..., Delivery]


class Core:
    """Core's webhook receiver, reduced to what delivery can observe: it verifies the
    signature, parses the body as an EventBatch and records what it accepted, in order."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, str]] = []  # (session_id, event id), repeats included
        self.batch_sizes: list[int] = []
        self.requests = 0
        self.refused_signatures: list[str] = []
        self.content_types: set[str] = set()
        self.next_statuses: list[int] = []  # answered before anything is accepted
        self.invalid_ids: set[str] = set()  # answered with 422 when a batch holds one
        self.hold_s = 0.0  # how long to sit on an accepted batch before answering
        self.got_batch = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/internal/events", self.receive)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        self.content_types.add(request.content_type)
        try:
            verify(SECRET, request.headers.get(HEADER), body)
        except BadSignature as exc:
            self.refused_signatures.append(str(exc))
            return error(401, "bad_signature", str(exc))
        if self.next_statuses:
            status = self.next_statuses.pop(0)
            return error(status, "unavailable", "Core is having a bad moment.")
        batch = EventBatch.model_validate_json(body)
        if any(event.id in self.invalid_ids for event in batch.events):
            # The index is deliberately wrong: delivery must not rely on it.
            return error(422, "validation_error", "chat is not a JID", details={"index": 0})
        self.accepted.extend((event.session_id, event.id) for event in batch.events)
        self.batch_sizes.append(len(batch.events))
        self.got_batch.set()
        if self.hold_s:
            await asyncio.sleep(self.hold_s)
        return web.json_response({"accepted": len(batch.events)})

    def accepted_ids(self) -> list[str]:
        return [event_id for _, event_id in self.accepted]


def error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


def by_session(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Each session's event ids in the order seen, counting only the first sighting of each."""
    seen: set[str] = set()
    sessions: dict[str, list[str]] = {}
    for session_id, event_id in pairs:
        if event_id not in seen:
            seen.add(event_id)
            sessions.setdefault(session_id, []).append(event_id)
    return sessions


def expected(events: Iterable[Event]) -> dict[str, list[str]]:
    return by_session((event.session_id, event.id) for event in events)


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {timeout_s} s", pytrace=False)
        await asyncio.sleep(0.005)


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db")
    await box.open()
    yield box
    await box.close()


@pytest.fixture
async def core(aiohttp_server: AiohttpServer) -> tuple[Core, str]:
    receiver = Core()
    server = await aiohttp_server(receiver.app())
    return receiver, str(server.make_url("/"))


@pytest.fixture
async def start_delivery(outbox: Outbox) -> AsyncIterator[StartDelivery]:
    """Starts deliveries from the outbox with test limits; stops them all at the end."""
    running: list[Delivery] = []

    def start(core_url: str, **limits: Any) -> Delivery:
        limits = {"linger_ms": 5, "backoff_initial_s": 0.001, "backoff_max_s": 0.02} | limits
        delivery = Delivery(outbox, core_url, limits.pop("secret", SECRET), **limits)
        running.append(delivery)
        return delivery

    yield start
    for delivery in running:
        await delivery.stop()


async def test_events_reach_core_signed_and_in_each_sessions_order(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    delivery = start_delivery(url)
    await delivery.start()
    events = [message(f"s{n % 3}", n) for n in range(90)]
    for start in range(0, 90, 10):
        await outbox.append(events[start : start + 10])

    await until(lambda: len(receiver.accepted) == 90)
    assert receiver.refused_signatures == []
    assert receiver.content_types == {"application/json"}
    assert by_session(receiver.accepted) == expected(events)
    assert sorted(receiver.accepted_ids()) == sorted(event.id for event in events)
    await until(lambda: outbox.depth() == 0)

    stats = delivery.stats
    assert stats.delivered == 90
    assert stats.batches == len(receiver.batch_sizes)
    assert stats.parked == 0
    assert not stats.failures
    assert 0 < stats.latency_p50_s <= stats.latency_p99_s < 5
    assert 0 < stats.last_latency_s < 5


async def test_a_backlog_waiting_at_start_is_delivered(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    events = [message(f"s{n % 4}", n) for n in range(40)]
    await outbox.append(events)
    await start_delivery(url).start()
    await until(lambda: len(receiver.accepted) == 40)
    assert by_session(receiver.accepted) == expected(events)


async def test_core_down_at_start_then_up_gets_everything_after_growing_delays(
    outbox: Outbox, aiohttp_server: AiohttpServer, start_delivery: StartDelivery
) -> None:
    port = unused_port()  # nothing listens here yet
    delivery = start_delivery(f"http://127.0.0.1:{port}", backoff_max_s=0.05)
    await delivery.start()
    events = [message(f"s{n % 2}", n) for n in range(20)]
    await outbox.append(events)

    await until(lambda: delivery.stats.failures["connect"] >= 6)
    assert delivery.stats.retrying
    ceilings = [ceiling for ceiling, _ in delivery.stats.retry_delays]
    assert ceilings[:6] == pytest.approx([0.001, 0.002, 0.004, 0.008, 0.016, 0.032])
    assert all(0 <= delay <= ceiling for ceiling, delay in delivery.stats.retry_delays)
    assert outbox.depth() == 20

    receiver = Core()
    await aiohttp_server(receiver.app(), port=port)
    await until(lambda: len(receiver.accepted) == 20)
    assert by_session(receiver.accepted) == expected(events)
    await until(lambda: outbox.depth() == 0)
    assert not delivery.stats.retrying
    assert delivery.backoff.ceiling == 0.001  # reset by the success


async def test_server_errors_then_success_deliver_each_event_once_acked(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    receiver.next_statuses = [500, 503, 429]
    delivery = start_delivery(url)
    await delivery.start()
    events = [message(f"s{n % 3}", n) for n in range(30)]
    await outbox.append(events)

    await until(lambda: outbox.depth() == 0)
    assert receiver.requests == 4
    assert sorted(receiver.accepted_ids()) == sorted(event.id for event in events)
    assert by_session(receiver.accepted) == expected(events)
    assert delivery.stats.failures == {"server_error": 2, "throttled": 1}
    assert delivery.stats.delivered == 30
    assert outbox.parked_count() == 0


async def test_one_refused_event_among_100_is_parked_and_the_99_others_delivered(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    events = [message(f"s{n % 4}", n) for n in range(100)]
    bad = events[37]
    receiver.invalid_ids = {bad.id}
    await outbox.append(events)
    delivery = start_delivery(url)
    await delivery.start()

    await until(lambda: outbox.depth() == 0)
    good = [event for event in events if event is not bad]
    # Each good event accepted exactly once, in its session's order.
    assert sorted(receiver.accepted_ids()) == sorted(event.id for event in good)
    assert by_session(receiver.accepted) == expected(good)
    # Halving finds the bad one in a handful of requests, not one per event.
    assert receiver.requests <= 17

    [parked] = await outbox.parked()
    assert parked.event.id == bad.id
    assert parked.status == 422
    assert parked.reason == "422 validation_error: chat is not a JID"
    assert outbox.parked_count() == 1
    assert delivery.stats.parked == 1
    assert delivery.stats.delivered == 99

    # Once fixed in core, an operator retries it and it goes through.
    receiver.invalid_ids.clear()
    assert await outbox.retry_parked(parked.event.seq)
    await until(lambda: bad.id in receiver.accepted_ids())
    await until(lambda: outbox.depth() == 0)
    assert outbox.parked_count() == 0


async def test_a_wrong_secret_is_retried_never_parked(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    delivery = start_delivery(url, secret="not-the-secret")
    await delivery.start()
    await outbox.append([message("s1", n) for n in range(5)])

    await until(lambda: delivery.stats.failures["refused"] >= 3)
    assert receiver.refused_signatures[0] == "signature does not match"
    assert receiver.accepted == []
    assert outbox.parked_count() == 0
    assert outbox.depth() == 5


async def test_appends_close_together_travel_in_few_batches(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    await start_delivery(url, linger_ms=100).start()
    events = [message(f"s{n % 10}", n) for n in range(300)]
    await asyncio.gather(*(outbox.append([event]) for event in events))

    await until(lambda: len(receiver.accepted) == 300)
    assert len(receiver.batch_sizes) <= 3
    assert by_session(receiver.accepted) == expected(events)


async def test_a_batch_never_exceeds_batch_max(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    await outbox.append([message(f"s{n % 3}", n) for n in range(350)])
    await start_delivery(url, batch_max=100).start()
    await until(lambda: len(receiver.accepted) == 350)
    assert max(receiver.batch_sizes) == 100
    assert len(receiver.batch_sizes) == 4


async def test_a_new_event_on_an_idle_outbox_goes_out_within_milliseconds(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    await start_delivery(url, linger_ms=2).start()
    await asyncio.sleep(0.05)  # idle: nothing to deliver
    for n in range(3):
        receiver.got_batch.clear()
        appended = time.monotonic()
        await outbox.append([message("s1", n)])
        async with asyncio.timeout(1):
            await receiver.got_batch.wait()
        assert time.monotonic() - appended < 0.25
    assert len(receiver.accepted) == 3


async def test_stop_waits_for_the_post_in_flight(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    receiver.hold_s = 0.1
    delivery = start_delivery(url)
    await delivery.start()
    await outbox.append([message("s1", n) for n in range(10)])
    await receiver.got_batch.wait()

    await delivery.stop(timeout_s=5)
    assert outbox.depth() == 0  # core answered and the batch was acknowledged
    assert len(receiver.accepted) == 10


async def test_stop_and_start_mid_stream_deliver_everything_at_least_once_in_order(
    outbox: Outbox, core: tuple[Core, str], start_delivery: StartDelivery
) -> None:
    receiver, url = core
    receiver.hold_s = 0.05  # core commits, then is slow to answer
    sessions = [f"s{n}" for n in range(4)]
    events = [message(sessions[n % 4], n) for n in range(400)]

    async def produce() -> None:
        for start in range(0, len(events), 5):
            await outbox.append(events[start : start + 5])
            await asyncio.sleep(0.001)

    producer = asyncio.create_task(produce())
    delivery = start_delivery(url)
    await delivery.start()
    for _ in range(3):
        # Stop while core sits on a batch it already committed: it will come again.
        receiver.got_batch.clear()
        await receiver.got_batch.wait()
        await delivery.stop(timeout_s=0.005)
        delivery = start_delivery(url)
        await delivery.start()
    await producer
    receiver.hold_s = 0
    await until(lambda: outbox.depth() == 0)

    ids = receiver.accepted_ids()
    assert len(ids) > len(set(ids))  # the interrupted batches were delivered twice
    assert set(ids) == {event.id for event in events}
    assert by_session(receiver.accepted) == expected(events)
    assert outbox.parked_count() == 0
