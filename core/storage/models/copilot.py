"""The copilot's data: knowledge-base articles and quick replies it draws on, and every reply
draft it made, with what it cost and what the attendant did with it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.base import Base, BigId, Json, str_enum, utcnow


class KnowledgeArticle(Base):
    __tablename__ = "knowledge_articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # markdown
    tags: Mapped[list[str]] = mapped_column(Json, default=list)
    # Title, body and tags as normalized words (lowercase, no accents): the same search on
    # SQLite and PostgreSQL with a plain LIKE per word.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class QuickReply(Base):
    __tablename__ = "quick_replies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(40), unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SuggestionState(StrEnum):
    PENDING = "pending"
    STREAMING = "streaming"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SuggestionOutcome(StrEnum):
    ACCEPTED = "accepted"
    EDITED = "edited"
    DISMISSED = "dismissed"
    IGNORED = "ignored"


class Suggestion(Base):
    """One reply draft for a conversation, answering one customer message."""

    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="SET NULL")
    )
    requested_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    state: Mapped[SuggestionState] = mapped_column(
        str_enum(SuggestionState, "suggestion_state"), default=SuggestionState.PENDING
    )
    text: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(100))
    tokens_in: Mapped[int | None]
    tokens_out: Mapped[int | None]
    latency_ms: Mapped[int | None]
    cost: Mapped[float | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[SuggestionOutcome | None] = mapped_column(
        str_enum(SuggestionOutcome, "suggestion_outcome")
    )
    edit_distance: Mapped[int | None]
    final_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None]
    feedback_at: Mapped[datetime | None]
