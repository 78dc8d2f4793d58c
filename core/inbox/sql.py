"""Set lookups that stay fast batch after batch, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, any_, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

# Values per lookup: far below SQLite's and asyncpg's limits on bound parameters.
CHUNK = 1000
T = TypeVar("T")


def chunked(values: Collection[T]) -> Iterator[list[T]]:
    items = list(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def among(
    db: AsyncSession, column: InstrumentedAttribute[Any], values: list[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one bound parameter, so that
    one prepared statement serves every count of values."""
    if db.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


async def plan_each_query(db: AsyncSession) -> None:
    """PostgreSQL: plan this transaction's statements for their actual values.

    A prepared statement run more than five times may switch to a generic plan; for the
    batch lookups (a list of WhatsApp ids) the generic plan scanned whole channels, ~30 times
    slower once a channel had some ten thousand messages.
    """
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
