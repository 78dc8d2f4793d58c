"""The knowledge the copilot draws on: articles split into passages, and quick replies, in a
BM25 index rebuilt only when they change."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.copilot.bm25 import BM25Index
from core.copilot.context import Passage
from core.copilot.text import fold, words
from core.storage.models import KnowledgeArticle, QuickReply

_PARAGRAPHS = re.compile(r"\n\s*\n")
_MARKDOWN = re.compile(r"^\s{0,3}(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s?)", re.MULTILINE)


def plain(markdown: str) -> str:
    """Markdown as a customer would read it in WhatsApp (no headings, bullets or emphasis)."""
    text = _MARKDOWN.sub("", markdown)
    return re.sub(r"(\*\*|__|`)", "", text).strip()


def search_text(title: str, body: str, tags: list[str]) -> str:
    """The stored search column: normalized words, so LIKE finds "atencao" in "Atenção"."""
    return " ".join(fold(" ".join([title, body, *tags])).split())


def passages_of(article: KnowledgeArticle) -> list[tuple[str, str]]:
    """(words to rank by, passage text) per paragraph; the title ranks every paragraph."""
    out = []
    for paragraph in _PARAGRAPHS.split(article.body):
        text = plain(paragraph)
        if text:
            out.append((f"{article.title} {' '.join(article.tags)} {text}", text))
    return out


# How often a draft checks whether another replica changed the knowledge (this replica's
# own changes are seen at once: the API invalidates).
CHECK_EVERY_S = 5.0
_VERSION = select(
    select(func.count(KnowledgeArticle.id)).scalar_subquery(),
    select(func.max(KnowledgeArticle.updated_at)).scalar_subquery(),
    select(func.count(QuickReply.id)).scalar_subquery(),
    select(func.max(QuickReply.updated_at)).scalar_subquery(),
)


class KnowledgeBase:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._index: BM25Index[Passage] = BM25Index()
        self._version: tuple[Any, ...] | None = None
        self._checked_at = float("-inf")
        self._clock = clock
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._checked_at = float("-inf")

    async def refresh(self, db: AsyncSession) -> None:
        """Rebuilds the index when an article or a quick reply was added, changed or removed
        (one small query otherwise, at most every few seconds)."""
        if self._clock() - self._checked_at < CHECK_EVERY_S:
            return
        version = tuple((await db.execute(_VERSION)).one())
        self._checked_at = self._clock()
        if version == self._version:
            return
        async with self._lock:
            index: BM25Index[Passage] = BM25Index()
            for article in await db.scalars(select(KnowledgeArticle)):
                for ranked, text in passages_of(article):
                    index.add(words(ranked), Passage("knowledge", article.title, text))
            for reply in await db.scalars(select(QuickReply)):
                index.add(
                    words(f"{reply.shortcut} {reply.text}"),
                    Passage("quick_reply", reply.shortcut, reply.text),
                )
            self._index, self._version = index, version

    def search(self, text: str, limit: int) -> list[Passage]:
        query = words(text)
        if not query or limit <= 0:
            return []
        scale = self._index.max_score(query) or 1.0
        return [
            Passage(
                hit.payload.source,
                hit.payload.title,
                hit.payload.text,
                min(1.0, hit.score / scale),
            )
            for hit in self._index.search(query, limit)
        ]
