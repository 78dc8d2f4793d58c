"""Cleanup contexts: each opens one resource at start-up and closes it at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from core import keys
from core.auth.housekeeping import AuthHousekeeping
from core.copilot.service import COPILOT, CopilotService
from core.desk import bot as bot_jobs
from core.desk import csat, sla
from core.desk.assignment import ASSIGNER, Assigner
from core.desk.bot import Bot
from core.desk.machine import AUTO_CLOSE, RETURN, SWEEP, WAKE
from core.desk.presence import (
    PRESENCE_KEEPER,
    MemoryPresence,
    PresenceKeeper,
    PresenceStore,
    RedisPresence,
)
from core.desk.timers import Timers
from core.desk.unit import DESK, Desk
from core.gateway_client import GATEWAY, GatewayClient
from core.jobs import JOBS, JobRunner
from core.media import MEDIA_STORE, open_store
from core.outbound.sender import BATCH as SEND_BATCH
from core.outbound.sender import PARALLEL as SEND_PARALLEL
from core.outbound.sender import Sender
from core.outbound.service import SEND
from core.outbound.typing import TYPING, TypingThrottle
from core.realtime.bus import Bus, MemoryBus
from core.realtime.config import REALTIME, RealtimeConfig
from core.realtime.redis_bus import RedisBus
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
    config = app.get(REALTIME) or RealtimeConfig()
    the_bus: Bus
    if app[keys.SETTINGS].redis.redis_url is None:
        the_bus = MemoryBus(replay=config.replay)
    else:
        redis_bus = RedisBus(
            app[keys.REDIS],
            prefix=config.redis_prefix,
            replay=config.replay,
            block_ms=config.redis_block_ms,
        )
        await redis_bus.start()
        the_bus = redis_bus
    app[keys.BUS] = the_bus
    yield
    await the_bus.close()


async def gateway(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client to the gateway for the whole app."""
    client = GatewayClient(app[keys.SETTINGS])
    app[GATEWAY] = client
    yield
    await client.close()


async def media(app: web.Application) -> AsyncIterator[None]:
    store = open_store(app[keys.SETTINGS])
    app[MEDIA_STORE] = store
    yield
    await store.close()


async def housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Old sign-in records deleted now and then (after the database, stopped before it)."""
    sweeper = AuthHousekeeping(app[keys.SESSIONS], app[keys.SETTINGS].auth)
    sweeper.start()
    yield
    await sweeper.stop()


async def desk(app: web.Application) -> AsyncIterator[None]:
    """The desk's spine: units of work, the job runner (sends, sweeps, timers), presence and
    auto-assignment; after the database, the bus, the gateway client and the media store, and
    stopped before them."""
    settings = app[keys.SETTINGS]
    runner = JobRunner(
        app[keys.SESSIONS], poll_s=settings.desk.jobs_poll_s, lock_s=settings.desk.jobs_lock_s
    )
    the_desk = Desk(app[keys.SESSIONS], app[keys.BUS], runner)
    redis = app.get(keys.REDIS)
    offline_s = settings.desk.presence_offline_s
    store: PresenceStore = (
        MemoryPresence(offline_s)
        if redis is None
        else RedisPresence(redis, settings.realtime.redis_prefix, offline_s)
    )
    keeper = PresenceKeeper(
        store,
        the_desk,
        lambda: app[keys.HUB].users() if keys.HUB in app else [],
        settings.desk.presence_beat_s,
    )
    assigner = Assigner(the_desk, store)
    sender = Sender(the_desk, app[GATEWAY], app[MEDIA_STORE], settings.outbound)
    runner.handle_batches(SEND, sender, SEND_BATCH, SEND_PARALLEL)
    runner.handle(SWEEP, assigner.sweep)
    runner.handle(RETURN, assigner.give_back)
    bot = Bot(the_desk)
    runner.handle_batches(bot_jobs.REPLY, bot.replies, bot_jobs.BATCH, 2)
    runner.handle(bot_jobs.TIMEOUT, bot.timeout)
    runner.handle(csat.THANKS, csat.Thanks(the_desk))
    timers = Timers(the_desk)
    runner.handle(AUTO_CLOSE, timers.auto_close)
    runner.handle(WAKE, timers.wake)
    runner.handle(sla.CHECK, timers.sla)
    app[JOBS] = runner
    app[DESK] = the_desk
    app[PRESENCE_KEEPER] = keeper
    app[ASSIGNER] = assigner
    app[TYPING] = TypingThrottle(settings.outbound.typing_throttle_s)
    runner.start()
    keeper.start()
    yield
    await keeper.stop()
    await runner.stop()


async def copilot(app: web.Application) -> AsyncIterator[None]:
    """The copilot's background drafts; stopped (drafts cancelled and awaited) before the
    database and the bus close."""
    service = CopilotService(app[keys.SESSIONS], app[keys.BUS], app[keys.SETTINGS].copilot)
    app[COPILOT] = service
    service.start()
    yield
    await service.close()
