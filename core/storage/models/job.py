"""Durable jobs: work that must happen later or elsewhere (an outbound send, a bot timeout, an
assignment sweep), stored in the same transaction as the change that needs it.

A job is unique per ``(kind, key)`` while it waits: enqueueing it again changes nothing, so a
job is idempotent per kind. A runner holds it with ``locked_until`` while it runs; one that
dies lets it go when that time passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.base import Base, BigId, utcnow


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("kind", "key"),
        Index("ix_jobs_run_at", "run_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    # Bumped each time the job is asked for again: a run that ends finds it changed and leaves
    # the job for one more run instead of deleting it.
    revision: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
