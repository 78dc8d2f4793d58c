"""Several core replicas behind one Redis: the stream numbers every notice once, replays it to
a client that reconnects anywhere, fans it out to sockets on every replica, and one replica's
ticket opens a socket on another exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from core import keys
from core.app import create_app
from core.realtime.bus import Audience, MemoryBus, Notice
from core.realtime.config import REALTIME, RealtimeConfig
from core.realtime.redis_bus import RedisBus
from core.settings import RedisSettings
from tests.conftest import Desk, make_settings
from tests.test_realtime import PATH, frame, inbox, open_ws, refusal, subscribe, ticket_for

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix(redis_server: str) -> Iterator[str]:
    """Redis keys of this test alone, deleted afterwards."""
    name = f"zapdesk-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = SyncRedis.from_url(redis_server)
    try:
        for key in client.scan_iter(f"{name}:*"):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server)
    yield client
    await client.aclose()


Replicas = Callable[[], Awaitable[tuple[Desk, Desk]]]


@pytest.fixture
def replicas(
    aiohttp_client: Any, tmp_path: Path, database_url: str, redis_server: str, prefix: str
) -> Replicas:
    """Two core apps on the same database and the same Redis."""

    async def make() -> tuple[Desk, Desk]:
        desks = []
        for name in ("a", "b"):
            settings = make_settings(
                tmp_path / name, database_url, redis=RedisSettings(redis_url=redis_server)
            )
            app = create_app(settings)
            app[REALTIME] = RealtimeConfig(redis_prefix=prefix, redis_block_ms=200)
            desks.append(Desk(await aiohttp_client(app)))
        return desks[0], desks[1]

    return make


async def test_the_stream_numbers_notices_in_one_order_and_replays_them(
    redis: Redis, prefix: str
) -> None:
    one = RedisBus(redis, prefix=prefix, replay=5, block_ms=200)
    two = RedisBus(redis, prefix=prefix, replay=5, block_ms=200)
    await one.start()
    await two.start()
    heard = two.subscribe()
    try:
        sent = [
            inbox(1, department_id=3, assignee_id=4),
            Notice("me", "notification.created", {"n": 2, "at": "2026-11-21"}, Audience(user_id=9)),
            inbox(3),
        ]
        await one.publish(sent[:2])
        await two.publish(sent[2:])
        got = [await asyncio.wait_for(anext(heard), 5) for _ in sent]
        assert [e.seq for e in got] == [1, 2, 3]
        assert [e.notice for e in got] == sent

        assert [e.seq for e in await one.since(1) or []] == [2, 3]
        assert await two.since(3) == []
        assert await two.since(4) is None  # ahead of the stream: resync

        await one.publish([inbox(n) for n in range(4, 10)])
        assert await one.since(3) is None  # 6 behind, 5 kept: resync
        assert [e.seq for e in await one.since(4) or []] == [5, 6, 7, 8, 9]
    finally:
        heard.close()
        await one.close()
        await two.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_subscriber_hears_what_is_published_before_it_first_reads(
    kind: str, redis: Redis, prefix: str
) -> None:
    bus = MemoryBus() if kind == "memory" else RedisBus(redis, prefix=prefix, block_ms=200)
    if isinstance(bus, RedisBus):
        await bus.start()
    with bus.subscribe() as heard:
        await bus.publish([inbox(1)])
        await asyncio.sleep(0.3)  # delivered (Redis: read back) before anyone reads
        await bus.publish([inbox(2)])
        got = [await asyncio.wait_for(anext(heard), 5) for _ in range(2)]
    assert [e.notice.data["n"] for e in got] == [1, 2]
    await bus.publish([inbox(3)])  # closed: no longer delivered
    assert heard.pending() == 0
    await bus.close()


async def test_numbering_survives_a_lost_counter_and_an_unreadable_entry_is_skipped(
    redis: Redis, prefix: str
) -> None:
    bus = RedisBus(redis, prefix=prefix, replay=100, block_ms=200)
    await bus.start()
    heard = bus.subscribe()
    try:
        await bus.publish([inbox(1), inbox(2)])
        await redis.delete(f"{prefix}:bus:seq")  # e.g. evicted, or deleted by hand
        # Written by a core of another version: a field this one does not know.
        await redis.xadd(f"{prefix}:bus", {"p": b"{}"}, id="3-0")
        await bus.publish([inbox(3)])
        got = [await asyncio.wait_for(anext(heard), 5) for _ in range(3)]
        assert [(e.seq, e.notice.data["n"]) for e in got] == [(1, 1), (2, 2), (4, 3)]
        assert await bus.since(0) is None  # 3 cannot be replayed: resync
        assert [e.seq for e in await bus.since(3) or []] == [4]
    finally:
        heard.close()
        await bus.close()


async def test_replicas_share_the_fan_out_the_numbering_and_the_replay(replicas: Replicas) -> None:
    a, b = await replicas()
    user = await a.user("supervisor")
    ws = await open_ws(b, user)
    await subscribe(ws, "inbox")

    for desk, n in [(a, 1), (b, 2), (a, 3)]:
        await desk.app[keys.BUS].publish([inbox(n)])
    got = [await frame(ws) for _ in range(3)]
    assert [f["data"]["n"] for f in got] == [1, 2, 3]
    first = got[0]["seq"]
    assert [f["seq"] for f in got] == [first, first + 1, first + 2]
    await ws.close()

    # Missed while away, published on b; the client comes back through a.
    await b.app[keys.BUS].publish([inbox(4), Notice("sessions", "session.updated", {"n": 5})])
    ws = await open_ws(a, user, last_seq=got[-1]["seq"])
    replay = await subscribe(ws, "inbox", "sessions")
    assert [f["data"]["n"] for f in replay] == [4, 5]
    await b.app[keys.BUS].publish([inbox(6)])
    assert (await frame(ws))["data"]["n"] == 6
    await ws.close()


async def test_a_ticket_from_one_replica_opens_a_socket_on_another_once(replicas: Replicas) -> None:
    a, b = await replicas()
    user = await a.user("attendant")
    ticket = await ticket_for(a, user)
    ws = await b.client.ws_connect(PATH, params={"ticket": ticket})
    await subscribe(ws, "me")
    for desk in (a, b):
        status, error = await refusal(desk, {"ticket": ticket})
        assert (status, error["details"]["reason"]) == (401, "reused")
    await ws.close()
