"""Set lookups that stay fast batch after batch, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, any_, bindparam
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
    db: AsyncSession, column: InstrumentedAttribute[Any] | ColumnElement[Any], values: list[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one bound parameter, so that
    one prepared statement serves every count of values."""
    if db.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)
