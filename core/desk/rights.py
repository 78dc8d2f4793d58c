"""A change of someone's rights (role, departments, deactivation) reaches their open sockets on
every core at once: core publishes ``access.changed`` on the bus and each hub reloads them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from core.api.routing import Call
from core.desk.unit import DESK
from core.realtime.bus import Notice
from core.realtime.topics import ACCESS_CHANGED, INTERNAL


async def access_changed(call: Call[Any, Any], user_ids: Collection[int]) -> None:
    if user_ids:
        notice = Notice(INTERNAL, ACCESS_CHANGED, {"user_ids": sorted(user_ids)})
        await call.request.app[DESK].bus.publish([notice])
