"""Notifications: stored with the change that caused them, announced to their person only,
never to someone who turned that kind off, never to whoever caused them."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys
from core.desk.changes import Changes
from core.desk.notifications import MENTIONED, preferences_of, wants
from core.desk.unit import DESK
from core.realtime.topics import ME, NOTIFICATION_CREATED
from core.storage.models import Notification, User
from tests.conftest import Desk


async def _switch_off(desk: Desk, user: Any, **preferences: bool) -> None:
    async with desk.app[keys.SESSIONS].begin() as db:
        await db.execute(update(User).where(User.id == user.id).values(preferences=preferences))


async def test_a_notification_reaches_its_person_and_nobody_who_does_not_want_it(
    desk: Desk,
) -> None:
    ana, bia, caio = [await desk.user("attendant") for _ in range(3)]
    await _switch_off(desk, caio, mentioned=False)

    async def work(db: AsyncSession, changes: Changes) -> None:
        changes.notify(
            [ana.id, bia.id, caio.id], MENTIONED, actor_user_id=bia.id, data={"excerpt": "oi"}
        )

    with desk.app[keys.BUS].subscribe() as heard:
        await desk.app[DESK].run(work)
        envelope = await asyncio.wait_for(anext(heard), 5)
        assert heard.pending() == 0  # one notice: Ana's

    assert (envelope.notice.topic, envelope.notice.type) == (ME, NOTIFICATION_CREATED)
    assert envelope.notice.audience.user_id == ana.id
    assert envelope.notice.data["kind"] == MENTIONED
    assert envelope.notice.data["actor_user_id"] == bia.id
    async with desk.app[keys.SESSIONS]() as db:
        stored = (await db.scalars(select(Notification))).all()
    assert [(n.user_id, n.data, n.read_at) for n in stored] == [(ana.id, {"excerpt": "oi"}, None)]


def test_preferences_default_to_everything_on_but_do_not_disturb() -> None:
    assert preferences_of(None)["sla"]
    assert not preferences_of(None)["dnd"]
    assert not wants({"sla": False}, "sla_breached")
    assert wants({"sla": False}, "assigned")
