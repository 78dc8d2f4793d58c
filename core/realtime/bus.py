"""The bus: every change core makes is published once, with a sequence number, and reaches the
websocket hub of every core replica (in-process by default; Redis with ZAPDESK_REDIS_URL).

A ``Notice`` says what changed (``type`` and ``data``), on which ``topic``, and who may see it
(``audience``). The hub decides per socket; the bus only carries and numbers.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic_core import from_json, to_json


@dataclass(frozen=True)
class Audience:
    """Who may see a notice besides admins (who see everything): the conversation's department
    and assignee (``core.auth.visibility``), and for a conversation that just moved, where it
    was (``was``: department, assignee), so that whoever saw it there sees it go.
    """

    department_id: int | None = None
    assignee_id: int | None = None
    user_id: int | None = None  # a personal notice (topic "me"): only this user
    was: tuple[int | None, int | None] | None = None


@dataclass(frozen=True)
class Notice:
    topic: str  # "inbox", "conversation:<id>", "sessions", "presence", "me"
    type: str  # "message.created", "conversation.updated", ... (DESIGN.md, Realtime)
    data: Mapping[str, Any]
    audience: Audience = field(default_factory=Audience)


@dataclass(frozen=True)
class Envelope:
    seq: int
    notice: Notice


class SerializedData(Mapping[str, Any]):
    """A notice's ``data`` as JSON: built so from a view (serialized once, for the bus and
    every socket alike) or as it came from Redis. Parsed only if someone reads it."""

    __slots__ = ("_parsed", "json")

    def __init__(self, json: bytes) -> None:
        self.json = json
        self._parsed: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = dict(from_json(self.json))
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


def serialized(view: BaseModel) -> SerializedData:
    """A view (``MessageOut``, ``ConversationOut``...) as a notice's data, serialized now."""
    return SerializedData(to_json(view))


def data_json(data: Mapping[str, Any]) -> bytes:
    """A notice's data as JSON, serialized at most once."""
    # type(), not isinstance(): a Mapping subclass makes isinstance an ABC check, per notice.
    return data.json if type(data) is SerializedData else to_json(data)


class Subscription:
    """What a bus delivers from the moment this is made (not from its first read), in seq
    order, until it is closed: ``with bus.subscribe() as envelopes: async for ...``."""

    def __init__(self, subscribers: set[Subscription]) -> None:
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue()
        self._subscribers = subscribers
        subscribers.add(self)

    def put(self, envelope: Envelope) -> None:
        self._queue.put_nowait(envelope)

    def pending(self) -> int:
        """Envelopes delivered and not read yet."""
        return self._queue.qsize()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Envelope:
        return await self._queue.get()

    def close(self) -> None:
        self._subscribers.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus(ABC):
    """Publish once, deliver to every subscriber of every replica, numbered in one order."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    @abstractmethod
    async def publish(self, notices: list[Notice]) -> None: ...

    def subscribe(self) -> Subscription:
        """Everything published from now on, in seq order."""
        return Subscription(self._subscribers)

    def _deliver(self, envelopes: Iterable[Envelope]) -> None:
        for envelope in envelopes:
            for subscription in self._subscribers:
                subscription.put(envelope)

    @abstractmethod
    async def since(self, seq: int) -> list[Envelope] | None:
        """What was published after ``seq``, or None when that is no longer kept."""

    async def close(self) -> None:  # noqa: B027 - an optional hook
        """Releases connections."""


class MemoryBus(Bus):
    """One core process: subscribers are queues, the replay buffer is a bounded deque."""

    def __init__(self, replay: int = 10_000) -> None:
        super().__init__()
        self._seq = 0
        self._history: deque[Envelope] = deque(maxlen=replay)

    async def publish(self, notices: list[Notice]) -> None:
        envelopes = []
        for notice in notices:
            self._seq += 1
            envelopes.append(Envelope(self._seq, notice))
        self._history.extend(envelopes)
        self._deliver(envelopes)

    async def since(self, seq: int) -> list[Envelope] | None:
        if seq > self._seq:
            return None
        if self._history and seq < self._history[0].seq - 1:
            return None
        return [e for e in self._history if e.seq > seq]
