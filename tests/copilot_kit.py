"""Helpers of the copilot suites: a desk with copilot settings, a fake OpenAI endpoint, seeded
conversations, and waiting for a draft to settle."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from core import keys
from core.app import create_app
from core.copilot.service import COPILOT, CopilotService
from core.realtime.bus import Notice
from core.settings import CopilotSettings
from core.storage.models import ActorType, Conversation, Direction, Message, MessageStatus
from tests.conftest import Desk, make_settings
from tests.test_conversations_api import T0, Seed

FINAL_STATES = {"ready", "failed", "cancelled"}


async def copilot_desk(
    aiohttp_client: Any, tmp_path: Path, database_url: str, **copilot: Any
) -> Desk:
    settings = make_settings(tmp_path, database_url, copilot=CopilotSettings(**copilot))
    return Desk(await aiohttp_client(create_app(settings)))


def service(desk: Desk) -> CopilotService:
    return desk.app[COPILOT]


async def notices(desk: Desk, kind: str | None = None) -> list[Notice]:
    """Everything published on the desk's (in-memory) bus so far."""
    envelopes = await desk.app[keys.BUS].since(0) or []
    return [e.notice for e in envelopes if kind is None or e.notice.type == kind]


async def eventually(check: Any, timeout_s: float = 30.0) -> Any:
    """Polls ``check()`` (async) until it answers something truthy; generous deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"still {value!r} after {timeout_s} s")
        await asyncio.sleep(0.02)


async def latest(desk: Desk, user: Any, conversation_id: int) -> Any:
    response = await desk.client.get(
        f"/api/v1/conversations/{conversation_id}/suggestion", headers=desk.auth(user)
    )
    body = await response.json()
    return body if response.status == 200 else None


async def settled(desk: Desk, user: Any, conversation_id: int, after: int = 0) -> Any:
    """The conversation's latest draft (newer than id ``after``) once it is final."""

    async def check() -> Any:
        found = await latest(desk, user, conversation_id)
        if found and found["id"] > after and found["state"] in FINAL_STATES:
            return found
        return None

    return await eventually(check)


async def regenerate(desk: Desk, user: Any, conversation_id: int) -> Any:
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/suggestions", headers=desk.auth(user)
    )
    body = await response.json()
    assert response.status == 202, body
    assert body["state"] == "pending"
    return body


async def say(
    seed: Seed,
    conversation_id: int,
    body: str,
    *,
    inbound: bool = True,
    minute: int = 0,
) -> int:
    """A message as ingest or the desk would have stored it."""
    async with seed.sessions.begin() as db:
        conversation = await db.get(Conversation, conversation_id)
        assert conversation is not None
        message = Message(
            conversation_id=conversation_id,
            channel_id=conversation.channel_id,
            direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
            author_type=ActorType.CONTACT if inbound else ActorType.USER,
            body=body,
            status=MessageStatus.RECEIVED if inbound else MessageStatus.SENT,
            created_at=T0 + timedelta(minutes=minute),
        )
        db.add(message)
        await db.flush()
        return message.id


async def conversation_with(
    seed: Seed,
    name: str,
    phone: str,
    turns: list[tuple[bool, str]],
    *,
    channel: int | None = None,
    department_id: int | None = None,
) -> int:
    """A conversation with ``name`` made of (inbound?, text) turns, a minute apart."""
    channel = channel or await seed.channel()
    contact = await seed.contact(name, phone)
    conversation = await seed.conversation(channel, contact, department_id=department_id)
    for minute, (inbound, text) in enumerate(turns):
        await say(seed, conversation, text, inbound=inbound, minute=minute)
    return conversation
