"""Opaque cursors for keyset pagination: the sort key of the last row a page showed.

A cursor is base64url of ``[iso timestamp, id]``. Keyset pages stay correct while rows are
added (no row shown twice, none skipped) and cost the same on page 1 and page 1000.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from core.storage.base import MAX_ID
from zapdesk.errors import ValidationFailed

DEFAULT_LIMIT = 25
MAX_LIMIT = 100

T = TypeVar("T")


@dataclass(frozen=True, order=True)
class SortKey:
    """Where a row sits in a newest-first list: its timestamp, then its id to break ties."""

    at: datetime
    id: int


def encode_cursor(key: SortKey) -> str:
    raw = json.dumps([key.at.isoformat(), key.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    """The key ``cursor`` stands for; a 422 ``validation_error`` on anything we did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = json.loads(raw)
        key = SortKey(datetime.fromisoformat(at), int(row_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise _bad_cursor() from None
    if key.at.tzinfo is None or isinstance(row_id, bool) or not isinstance(row_id, int):
        raise _bad_cursor()
    if not 0 < row_id <= MAX_ID:
        raise _bad_cursor()
    return key


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "cursor: not a cursor this server gave out; start again without it.",
        details={"errors": [{"field": "cursor", "message": "invalid cursor"}]},
    )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows and where the next one starts (None: this was the last)."""

    items: list[T]
    next: SortKey | None

    @property
    def next_cursor(self) -> str | None:
        return None if self.next is None else encode_cursor(self.next)


def page_of(rows: Sequence[T], limit: int, key: Callable[[T], SortKey]) -> Page[T]:
    """``rows`` were fetched with ``limit + 1``: the extra row only says there is more."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, key(items[-1]) if more and items else None)


def older_than(
    at: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[int], key: SortKey
) -> ColumnElement[bool]:
    """Rows after ``key`` in newest-first order. ``at <= key.at`` alone is an index range; the
    rest breaks ties between rows of the same instant."""
    return and_(at <= key.at, or_(at < key.at, row_id < key.id))
