"""Typed keys for everything core keeps on its ``web.Application``."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.realtime.bus import Bus
from core.realtime.fanout import Hub
from core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
MIGRATION_HEAD = web.AppKey("migration_head", str)
REDIS = web.AppKey("redis", Redis)
BUS = web.AppKey("bus", Bus)
HUB = web.AppKey("realtime_hub", Hub)
