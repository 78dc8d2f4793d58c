"""A number's bot: read it (staff), set it up (admins)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import ADMIN, STAFF, Api, Call
from core.desk.bot import BotConfig
from core.storage.models import Channel, Department
from zapdesk.errors import NotFound, ValidationFailed

api = Api()
TAGS = ("bot",)


@api.operation(
    "GET",
    "/channels/{id}/bot",
    summary="A number's bot: greeting, menu, fallback",
    roles=STAFF,
    response=BotConfig,
    tags=TAGS,
)
async def get_bot(call: Call[None, None]) -> BotConfig:
    """A number that never had one answers the defaults (switched off)."""
    async with call.db() as db:
        channel = await _channel(call, db)
        return BotConfig.model_validate(channel.bot or {})


@api.operation(
    "PUT",
    "/channels/{id}/bot",
    summary="Set up a number's bot",
    roles=ADMIN,
    body=BotConfig,
    response=BotConfig,
    tags=TAGS,
)
async def put_bot(call: Call[BotConfig, None]) -> BotConfig:
    """Takes effect for new conversations and for those the bot holds now."""
    config = call.body
    async with call.db.begin() as db:
        channel = await _channel(call, db)
        named = config.departments()
        known = set(await db.scalars(select(Department.id).where(Department.id.in_(named))))
        if missing := sorted(named - known):
            raise ValidationFailed(
                "The menu names a department that does not exist.",
                details={"field": "menu", "missing": missing},
            )
        channel.bot = config.model_dump(mode="json")
    return config


async def _channel(call: Call[Any, Any], db: AsyncSession) -> Channel:
    channel = await db.get(Channel, call.int_param("id"))
    if channel is None:
        raise NotFound(f"No channel {call.param('id')}.")
    return channel
