"""The bus across core replicas: a trimmed Redis stream is both the fan-out and the replay buffer.

``publish`` runs one Lua script: ``INCRBY`` a counter by the number of notices (the global seq)
and ``XADD`` them as one entry whose id is the last one's seq (``<seq>-0``), trimming entries
older than the replay buffer (``MINID``). One entry per batch, not per notice: a batch of a
hundred messages is one command for Redis and one reply to decode for each replica. Each
replica reads the stream with ``XREAD BLOCK`` from where it started and hands every notice to
its subscribers (the hub); ``since(seq)`` reads the entries from the one holding ``seq + 1``.
"""

from __future__ import annotations

import asyncio
from typing import cast

import structlog
from pydantic_core import from_json, to_json
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.realtime.bus import Audience, Bus, Envelope, Notice, SerializedData, data_json

log = structlog.get_logger("core.realtime.redis_bus")

# KEYS: stream, counter. ARGV: replay, count, the notices' routings (a JSON array: topic, type,
# audience and the size of its data, each), their data (each one's JSON, one after the other).
# Answers the last seq. A counter lost while the stream survives (a deleted key) restarts
# after the stream's top.
_PUBLISH = """
local count = tonumber(ARGV[2])
local seq = redis.call('INCRBY', KEYS[2], count)
if seq == count then
  local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if top[1] then
    seq = tonumber(string.match(top[1][1], '^(%d+)')) + count
    redis.call('SET', KEYS[2], seq)
  end
end
local oldest = math.max(0, seq - tonumber(ARGV[1]))
redis.call('XADD', KEYS[1], 'MINID', '~', oldest, seq .. '-0', 'n', ARGV[3], 'd', ARGV[4])
return seq
"""

# Replies as this client gives them (RESP2, bytes): [(id, {field: value}), ...].
Entries = list[tuple[bytes, dict[bytes, bytes]]]
_READ_BATCH = 50  # entries per read: each is a whole batch of notices
_RETRY_FIRST, _RETRY_MAX = 0.1, 5.0


def encode(notices: list[Notice]) -> tuple[bytes, bytes]:
    """(routings, data): the hub reads the small routing part of every notice, but only frames
    the data, as it is, for the sockets that follow the topic."""
    routings, data = [], []
    for notice in notices:
        audience = notice.audience
        json = data_json(notice.data)
        routings.append(
            (
                notice.topic,
                notice.type,
                audience.department_id,
                audience.assignee_id,
                audience.user_id,
                audience.was,
                len(json),
            )
        )
        data.append(json)
    return to_json(routings), b"".join(data)


def decode(entry_id: bytes, fields: dict[bytes, bytes]) -> list[Envelope]:
    """A stream entry's notices (``redis`` replies in bytes: the client does not decode
    responses)."""
    routings = from_json(fields[b"n"])
    data = fields[b"d"]
    seq = int(entry_id.split(b"-", 1)[0]) - len(routings)
    envelopes, end = [], 0
    audiences: dict[tuple[object, ...], Audience] = {}  # most notices share a few
    for topic, type_, department_id, assignee_id, user_id, was, size in routings:
        start, end, seq = end, end + size, seq + 1
        was = None if was is None else (was[0], was[1])
        who = (department_id, assignee_id, user_id, was)
        audience = audiences.get(who)
        if audience is None:
            audience = audiences[who] = Audience(department_id, assignee_id, user_id, was)
        notice = Notice(topic, type_, SerializedData(data[start:end]), audience)
        envelopes.append(Envelope(seq, notice))
    return envelopes


class RedisBus(Bus):
    def __init__(
        self, redis: Redis, *, prefix: str = "zapdesk", replay: int = 10_000, block_ms: int = 1000
    ) -> None:
        super().__init__()
        self._redis = redis
        self._stream = f"{prefix}:bus"
        self._counter = f"{prefix}:bus:seq"
        self._replay = replay
        self._block_ms = block_ms
        self._script = redis.register_script(_PUBLISH)
        self._reader: asyncio.Task[None] | None = None
        # redis-py may swallow a cancel that lands as a blocking read times out (its read
        # timeout races the cancel): the reader also checks this flag after every read.
        self._closing = False

    async def start(self) -> None:
        """Starts reading the stream from its current end. Redis being down does not stop core
        from starting (readiness reports it): the reader keeps asking until it answers."""
        try:
            start: int | None = await self._head()
        except (RedisError, OSError) as exc:
            log.warning("bus_not_reachable", error=repr(exc))
            start = None
        self._reader = asyncio.create_task(self._read(start), name="redis-bus-reader")

    async def close(self) -> None:
        self._closing = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def publish(self, notices: list[Notice]) -> None:
        if not notices:
            return
        await self._script(
            keys=[self._stream, self._counter], args=[self._replay, len(notices), *encode(notices)]
        )

    async def _head(self) -> int:
        return int(await self._redis.get(self._counter) or 0)

    async def since(self, seq: int) -> list[Envelope] | None:
        head = await self._head()
        if seq > head or head - seq > self._replay:
            return None
        if seq == head:
            return []
        entries = cast(
            Entries,
            await self._redis.xrange(self._stream, min=f"{seq + 1}-0", max="+", count=head - seq),
        )
        envelopes: list[Envelope] = []
        for entry_id, fields in entries:
            found = _readable(entry_id, fields)
            if found is None:
                return None  # the client cannot be told what it missed: resync
            envelopes.extend(e for e in found if e.seq > seq)
        if not envelopes or envelopes[0].seq != seq + 1:
            return None  # trimmed away
        return envelopes

    async def _read(self, start: int | None) -> None:
        last = None if start is None else f"{start}-0"
        delay = _RETRY_FIRST
        while not self._closing:
            try:
                if last is None:
                    last = f"{await self._head()}-0"
                reply = cast(
                    list[tuple[bytes, Entries]] | None,
                    await self._redis.xread(
                        {self._stream: last}, count=_READ_BATCH, block=self._block_ms
                    ),
                )
            except (RedisError, OSError) as exc:
                log.warning("bus_read_failed", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            delay = _RETRY_FIRST
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    envelopes = _readable(entry_id, fields)
                    if envelopes is None:
                        continue  # the hub sees the gap in seq and has its sockets resync
                    self._deliver(envelopes)


def _readable(entry_id: bytes, fields: dict[bytes, bytes]) -> list[Envelope] | None:
    try:
        return decode(entry_id, fields)
    except (KeyError, ValueError, TypeError):  # e.g. written by a core of another version
        log.error("bus_entry_unreadable", entry=entry_id.decode())
        return None
