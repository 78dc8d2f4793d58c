"""Cleanup contexts: each opens one resource at start-up and closes it at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from core import keys
from core.realtime.bus import MemoryBus
from core.storage.migrations import head_revision
from zapdesk.db import create_engine, session_factory


async def database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    engine = create_engine(
        settings.database_url,
        echo=settings.database.database_echo,
        pool_size=settings.database.database_pool_size,
    )
    app[keys.ENGINE] = engine
    app[keys.SESSIONS] = session_factory(engine)
    # Reading the migration scripts is file I/O: keep it off the loop.
    app[keys.MIGRATION_HEAD] = await asyncio.to_thread(head_revision)
    yield
    await engine.dispose()


async def redis(app: web.Application) -> AsyncIterator[None]:
    url = app[keys.SETTINGS].redis.redis_url
    if url is None:
        yield
        return
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    app[keys.REDIS] = client
    yield
    await client.aclose()


async def bus(app: web.Application) -> AsyncIterator[None]:
    """In-process by default; across replicas through Redis when it is configured."""
    the_bus = MemoryBus()
    app[keys.BUS] = the_bus
    yield
    await the_bus.close()
