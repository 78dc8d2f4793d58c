"""What attendants answered before: each customer question (the customer's messages since the
attendant last spoke) paired with the attendant's next reply, in a BM25 index.

Built lazily on the first draft, then grown from the messages stored since (by id), so a draft
never rereads the whole history.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.copilot.bm25 import BM25Index, Hit
from core.copilot.context import HUMAN
from core.copilot.text import first_name, words
from core.storage.models import ActorType, Contact, Conversation, Direction, Message

# Rows read and indexed per step: the first build over a large history yields to the event
# loop between steps (each a few tens of milliseconds of work) instead of holding it.
PAGE = 2_000
MAX_QUESTION = 1000  # characters of a burst kept for ranking


class Pair(NamedTuple):
    """A tuple of atoms: the garbage collector stops tracking it (a large history costs
    no collection time)."""

    conversation_id: int
    first_name: str | None  # the customer's, to swap for the new customer's
    question: str
    reply: str


class HistoryIndex:
    def __init__(self) -> None:
        self._index: BM25Index[Pair] = BM25Index()
        self._last_id = 0
        # Per conversation: the customer's words not yet answered by an attendant.
        self._open: dict[int, list[str]] = {}
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._index)

    async def refresh(self, db: AsyncSession) -> int:
        """Indexes the messages stored since the last refresh; answers how many it read."""
        read = 0
        async with self._lock:
            while True:
                rows = (
                    await db.execute(
                        select(
                            Message.id,
                            Message.conversation_id,
                            Message.direction,
                            Message.author_type,
                            Message.body,
                            Contact.name,
                            Contact.push_name,
                        )
                        .join(Conversation, Conversation.id == Message.conversation_id)
                        .join(Contact, Contact.id == Conversation.contact_id)
                        .where(Message.id > self._last_id, Message.revoked_at.is_(None))
                        .order_by(Message.id)
                        .limit(PAGE)
                    )
                ).all()
                for message_id, conversation_id, direction, author, body, name, push in rows:
                    self._take(conversation_id, direction, author, body, name or push)
                    self._last_id = message_id
                read += len(rows)
                if len(rows) < PAGE:
                    return read
                await asyncio.sleep(0)

    def _take(
        self,
        conversation_id: int,
        direction: Direction,
        author: ActorType,
        body: str,
        name: str | None,
    ) -> None:
        text = body.strip()
        if direction is Direction.INBOUND:
            if text:
                self._open.setdefault(conversation_id, []).append(text)
            return
        if author not in HUMAN or not text:
            return  # the bot's menu answers nothing the customer asked
        question = self._open.pop(conversation_id, None)
        if not question:
            return
        joined = " ".join(question)[-MAX_QUESTION:]
        self._index.add(words(joined), Pair(conversation_id, first_name(name), joined, text))

    def search(self, text: str, limit: int = 5) -> list[tuple[float, Pair]]:
        """The best pairs with a 0..1 confidence."""
        query = words(text)
        if not query:
            return []
        scale = self._index.max_score(query) or 1.0
        hits: list[Hit[Pair]] = self._index.search(query, limit)
        return [(min(1.0, hit.score / scale), hit.payload) for hit in hits]
