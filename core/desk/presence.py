"""Attendant presence: online, away or offline, shared by every core process.

A person is online while one of their tabs has a websocket open on some core (each core beats
for the people connected to it every few seconds), away when they said so, and offline when
none of their tabs has been connected for ``presence_offline_s``. The store is Redis when it is
configured (a sorted set of last beats and a set of the away), memory otherwise.

``PresenceKeeper`` turns changes into ``presence.updated`` notices and, when someone comes
online, asks for an assignment sweep of their departments (they may take queued work).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable
from enum import StrEnum
from typing import cast

import structlog
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.changes import Changes
from core.desk.machine import SWEEP
from core.desk.unit import Desk
from core.realtime.bus import Notice
from core.realtime.topics import PRESENCE, PRESENCE_UPDATED
from zapdesk.tasks import Worker

log = structlog.get_logger("core.desk.presence")


class Status(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class PresenceStore(ABC):
    def __init__(self, offline_after_s: float) -> None:
        self.offline_after_s = offline_after_s

    @abstractmethod
    async def beat(self, user_ids: Collection[int], now: float) -> None:
        """These people have a tab connected right now."""

    @abstractmethod
    async def set_away(self, user_id: int, away: bool) -> None: ...

    @abstractmethod
    async def known(self) -> list[int]:
        """Everyone seen at some time (offline ones included until forgotten)."""

    @abstractmethod
    async def raw(self, user_ids: list[int]) -> tuple[list[float | None], list[bool]]:
        """(last beat, away) of each."""

    async def statuses(
        self, user_ids: Iterable[int], now: float | None = None
    ) -> dict[int, Status]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        now = time.time() if now is None else now
        beats, away = await self.raw(ids)
        found = {}
        for user_id, beat, is_away in zip(ids, beats, away, strict=True):
            if beat is None or now - beat > self.offline_after_s:
                found[user_id] = Status.OFFLINE
            else:
                found[user_id] = Status.AWAY if is_away else Status.ONLINE
        return found


class MemoryPresence(PresenceStore):
    def __init__(self, offline_after_s: float) -> None:
        super().__init__(offline_after_s)
        self._beats: dict[int, float] = {}
        self._away: set[int] = set()

    async def beat(self, user_ids: Collection[int], now: float) -> None:
        self._beats.update(dict.fromkeys(user_ids, now))

    async def set_away(self, user_id: int, away: bool) -> None:
        if away:
            self._away.add(user_id)
        else:
            self._away.discard(user_id)

    async def known(self) -> list[int]:
        return list(self._beats)

    async def raw(self, user_ids: list[int]) -> tuple[list[float | None], list[bool]]:
        return [self._beats.get(u) for u in user_ids], [u in self._away for u in user_ids]


class RedisPresence(PresenceStore):
    def __init__(self, redis: Redis, prefix: str, offline_after_s: float) -> None:
        super().__init__(offline_after_s)
        self._redis = redis
        self._beats = f"{prefix}:presence:beats"
        self._away = f"{prefix}:presence:away"

    async def beat(self, user_ids: Collection[int], now: float) -> None:
        if user_ids:
            await self._redis.zadd(self._beats, dict.fromkeys(map(str, user_ids), now))

    async def set_away(self, user_id: int, away: bool) -> None:
        if away:
            await self._redis.sadd(self._away, str(user_id))
        else:
            await self._redis.srem(self._away, str(user_id))

    async def known(self) -> list[int]:
        members = cast(list[bytes], await self._redis.zrange(self._beats, 0, -1))
        return [int(member) for member in members]

    async def raw(self, user_ids: list[int]) -> tuple[list[float | None], list[bool]]:
        members = [str(u) for u in user_ids]
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zmscore(self._beats, members)
            pipe.smismember(self._away, members)
            beats, away = await pipe.execute()
        return [None if b is None else float(b) for b in beats], [bool(a) for a in away]


class PresenceKeeper(Worker):
    """Beats for this core's connected people and announces every change of status."""

    name = "presence-keeper"

    def __init__(
        self,
        store: PresenceStore,
        desk: Desk,
        connected: Callable[[], Collection[int]],
        beat_s: float,
    ) -> None:
        super().__init__(beat_s)
        self.store = store
        self._desk = desk
        self._connected = connected
        self._shown: dict[int, Status] = {}

    async def run_once(self) -> bool:
        await self.refresh()
        return False

    async def refresh(self, user_ids: Collection[int] | None = None) -> dict[int, Status]:
        """Beats for who is connected here, then announces the changes among ``user_ids``
        (everyone known when None); answers their statuses."""
        await self.store.beat(self._connected(), time.time())
        ids = list(user_ids) if user_ids is not None else await self.store.known()
        statuses = await self.store.statuses(ids)
        changed = {u: s for u, s in statuses.items() if self._shown.get(u) is not s}
        self._shown.update(statuses)
        if changed:
            await self._announce(changed)
        return statuses

    async def set_away(self, user_id: int, away: bool) -> Status:
        await self.store.set_away(user_id, away)
        return (await self.refresh([user_id]))[user_id]

    async def _announce(self, changed: dict[int, Status]) -> None:
        """Several cores may announce one change: the notice is the same, so that is harmless."""
        online = [u for u, s in changed.items() if s is Status.ONLINE]

        async def work(db: AsyncSession, changes: Changes) -> None:
            for user_id, status in changed.items():
                changes.extra.append(
                    Notice(PRESENCE, PRESENCE_UPDATED, {"user_id": user_id, "status": status})
                )
            for user_id in online:
                changes.enqueue(SWEEP, f"user:{user_id}")

        await self._desk.run(work)
        log.info("presence_changed", changes={str(u): s.value for u, s in changed.items()})


PRESENCE_KEEPER = web.AppKey("presence_keeper", PresenceKeeper)
