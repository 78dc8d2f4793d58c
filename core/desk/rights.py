"""A change of someone's rights (role, departments, deactivation) reaches their open sockets on
every core at once: core publishes ``access.changed`` on the bus and each hub reloads them; the
person's own tabs get ``user.updated`` on their ``me`` topic, with what they now are, so the
browser's rules (which conversations to keep in a list) follow too."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select

from core.api.routing import Call
from core.desk.departments import departments_of
from core.desk.unit import DESK
from core.realtime.bus import Audience, Notice, serialized
from core.realtime.topics import ACCESS_CHANGED, INTERNAL, ME, USER_UPDATED
from core.storage.models import User
from core.views import UserOut


async def access_changed(call: Call[Any, Any], user_ids: Collection[int]) -> None:
    if not user_ids:
        return
    async with call.db() as db:
        users = list(await db.scalars(select(User).where(User.id.in_(user_ids))))
        departments = await departments_of(db, [u.id for u in users])
    notices = [Notice(INTERNAL, ACCESS_CHANGED, {"user_ids": sorted(user_ids)})]
    for user in users:
        view = UserOut.of(user, departments[user.id])
        notices.append(Notice(ME, USER_UPDATED, serialized(view), Audience(user_id=user.id)))
    await call.request.app[DESK].bus.publish(notices)
