"""What the monitoring panel shows of core itself, and the message traffic per channel.

The counters are in memory and per replica: with several core replicas behind a balancer,
each answers its own ingest and error rates (the message traffic comes from the database and
is the whole desk's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import BigInteger, ColumnElement, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.models import Direction, Message, MessageType

CORE_MINUTES = 15
TRAFFIC_MINUTES = 60


class PerMinute:
    """A count per wall-clock minute over the last ``minutes`` minutes, this one included."""

    def __init__(self, minutes: int, clock: Callable[[], float] = time.time) -> None:
        self.minutes = minutes
        self._clock = clock
        self._counts: dict[int, int] = {}

    def add(self, count: int = 1) -> None:
        minute = int(self._clock() // 60)
        self._counts[minute] = self._counts.get(minute, 0) + count
        if len(self._counts) > self.minutes:
            oldest = minute - self.minutes + 1
            self._counts = {m: n for m, n in self._counts.items() if m >= oldest}

    def series(self) -> list[int]:
        """Oldest minute first; the last item is the current (partial) minute."""
        now = int(self._clock() // 60)
        return [self._counts.get(m, 0) for m in range(now - self.minutes + 1, now + 1)]


@dataclass
class Monitor:
    ingest: PerMinute = field(default_factory=lambda: PerMinute(CORE_MINUTES))
    errors: PerMinute = field(default_factory=lambda: PerMinute(CORE_MINUTES))


MONITOR = web.AppKey("monitor", Monitor)


async def _count_server_errors(request: web.Request, response: web.StreamResponse) -> None:
    # Every answer passes here once, whichever handler or middleware made it.
    if response.status >= 500:
        request.app[MONITOR].errors.add()


def setup(app: web.Application) -> None:
    app[MONITOR] = Monitor()
    app.on_response_prepare.append(_count_server_errors)


@dataclass
class Traffic:
    """Messages per minute, oldest first, the last item being the current minute."""

    inbound: list[int]
    outbound: list[int]


def _epoch_minute(db: AsyncSession) -> ColumnElement[int]:
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", Message.created_at) / 60), BigInteger)
    # SQLite keeps the UTC time as text; strftime('%s') reads it as UTC.
    return cast(func.strftime("%s", Message.created_at), BigInteger) // 60


async def traffic_by_channel(
    db: AsyncSession, minutes: int = TRAFFIC_MINUTES, now: float | None = None
) -> dict[int, Traffic]:
    """Messages in and out per channel and minute over the last ``minutes``: one aggregate."""
    last = int((time.time() if now is None else now) // 60)
    first = last - minutes + 1
    minute = _epoch_minute(db).label("minute")
    rows = await db.execute(
        select(Message.channel_id, Message.direction, minute, func.count())
        .where(
            Message.created_at >= datetime.fromtimestamp(first * 60, UTC),
            Message.type != MessageType.SYSTEM,
        )
        .group_by(Message.channel_id, Message.direction, minute)
    )
    found: dict[int, Traffic] = {}
    for channel_id, direction, at, count in rows:
        index = int(at) - first
        if not 0 <= index < minutes:  # written in the future by a skewed clock
            continue
        series = found.setdefault(channel_id, Traffic([0] * minutes, [0] * minutes))
        target = series.inbound if direction == Direction.INBOUND else series.outbound
        target[index] += int(count)
    return found
