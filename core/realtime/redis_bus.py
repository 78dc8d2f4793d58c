"""The bus across core replicas: a capped Redis stream is both the fan-out and the replay buffer.

``publish`` runs one Lua script: per notice, ``INCR`` a counter (the global seq) and ``XADD``
the notice with the stream id ``<seq>-0`` and ``MAXLEN ~ replay``. Each replica reads the
stream with ``XREAD BLOCK`` from where it started and hands every entry to its subscribers (the
hub); ``since(seq)`` reads the stream from ``seq + 1``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import structlog
from pydantic_core import from_json, to_json
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.realtime.bus import Audience, Bus, Envelope, Notice, SerializedData

log = structlog.get_logger("core.realtime.redis_bus")

# KEYS: stream, counter. ARGV: maxlen, then two values per notice (its routing: topic, type and
# audience; its payload: type and data as JSON). Answers the last seq.
# A counter lost while the stream survives (a deleted key) restarts after the stream's top.
_PUBLISH = """
local seq = 0
for i = 2, #ARGV, 2 do
  seq = redis.call('INCR', KEYS[2])
  if seq == 1 then
    local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
    if top[1] then
      seq = tonumber(string.match(top[1][1], '^(%d+)')) + 1
      redis.call('SET', KEYS[2], seq)
    end
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-0', 'n', ARGV[i], 'p', ARGV[i + 1])
end
return seq
"""

# Replies as this client gives them (RESP2, bytes): [(id, {field: value}), ...].
Entries = list[tuple[bytes, dict[bytes, bytes]]]
_READ_BATCH = 500
_RETRY_FIRST, _RETRY_MAX = 0.1, 5.0


def encode(notice: Notice) -> tuple[bytes, bytes]:
    """(routing, payload): the hub reads the small routing part of every notice, but only
    frames the payload, as it is, for the sockets that follow the topic."""
    audience = notice.audience
    routing = [
        notice.topic,
        notice.type,
        audience.department_id,
        audience.assignee_id,
        audience.user_id,
    ]
    return to_json(routing), to_json({"type": notice.type, "data": notice.data})


def decode(entry_id: bytes, fields: dict[bytes, bytes]) -> Envelope:
    """A stream entry (``redis`` replies in bytes: the client does not decode responses)."""
    topic, type_, department_id, assignee_id, user_id = from_json(fields[b"n"])
    payload = fields[b"p"]
    notice = Notice(
        topic=topic,
        type=type_,
        data=SerializedData(payload),
        audience=Audience(department_id=department_id, assignee_id=assignee_id, user_id=user_id),
    )
    return Envelope(seq=int(entry_id.split(b"-", 1)[0]), notice=notice, payload=payload)


class RedisBus(Bus):
    def __init__(
        self, redis: Redis, *, prefix: str = "zapdesk", replay: int = 10_000, block_ms: int = 1000
    ) -> None:
        self._redis = redis
        self._stream = f"{prefix}:bus"
        self._counter = f"{prefix}:bus:seq"
        self._replay = replay
        self._block_ms = block_ms
        self._script = redis.register_script(_PUBLISH)
        self._subscribers: set[asyncio.Queue[Envelope]] = set()
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
            keys=[self._stream, self._counter],
            args=[self._replay, *(part for notice in notices for part in encode(notice))],
        )

    async def subscribe(self) -> AsyncIterator[Envelope]:
        queue: asyncio.Queue[Envelope] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

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
        envelopes = [decode(entry_id, fields) for entry_id, fields in entries]
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
                    try:
                        envelope = decode(entry_id, fields)
                    except (KeyError, ValueError, TypeError):  # e.g. written by an older core
                        log.error("bus_entry_unreadable", entry=last)
                        continue
                    for queue in self._subscribers:
                        queue.put_nowait(envelope)
