"""Conversations between a contact and the company on one channel, and their audit trail."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.base import Base, BigId, Json, str_enum, utcnow


class ConversationStatus(StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ActorType(StrEnum):
    USER = "user"
    CONTACT = "contact"
    BOT = "bot"
    SYSTEM = "system"


class EventKind(StrEnum):
    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    TRANSFERRED = "transferred"
    RATED = "rated"
    NOTE = "note"  # a private note for staff (``note``), with whom it mentions (``data``)
    SLA_BREACHED = "sla_breached"  # a response target missed (``data``: which, when due)
    RESPONDED = "responded"  # a waiting customer answered (``data``: how long, target met)


class Conversation(Base):
    __tablename__ = "conversations"
    # The inbox lists by status within a department, an assignee or a channel, newest first.
    __table_args__ = (
        Index("ix_conversations_status_last_message", "status", "last_message_at"),
        Index(
            "ix_conversations_department_status_last_message",
            "department_id",
            "status",
            "last_message_at",
        ),
        Index(
            "ix_conversations_assignee_status_last_message",
            "assignee_id",
            "status",
            "last_message_at",
        ),
        Index(
            "ix_conversations_channel_status_last_message",
            "channel_id",
            "status",
            "last_message_at",
        ),
        Index("ix_conversations_contact_channel_status", "contact_id", "channel_id", "status"),
        # A department's queue, longest waiting first.
        Index(
            "ix_conversations_department_status_waiting",
            "department_id",
            "status",
            "waiting_since",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("departments.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[ConversationStatus] = mapped_column(
        str_enum(ConversationStatus, "conversation_status"), default=ConversationStatus.BOT
    )
    unread_count: Mapped[int] = mapped_column(default=0)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_preview: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None]
    # Since when it waits in its department's queue (None when it is not queued).
    waiting_since: Mapped[datetime | None]
    # Where the bot is with the customer (menu path, tries) and what it already said.
    bot_state: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # The satisfaction survey sent on resolving (core.desk.csat): asked, rated, done, declined.
    csat_status: Mapped[str | None] = mapped_column(String(16))
    csat_asked_at: Mapped[datetime | None]
    csat_rating: Mapped[int | None] = mapped_column(SmallInteger)  # 1-5
    csat_comment: Mapped[str | None] = mapped_column(Text)
    csat_rated_at: Mapped[datetime | None]
    # Pending until then, when it comes back open to its attendant (core.desk.api snooze).
    snoozed_until: Mapped[datetime | None]
    # The response clock of the department's SLA (core.desk.sla): when the answer is due,
    # which target runs ("first" or "next") and how it stands ("running", "at_risk",
    # "breached"); all None when nobody owes the customer an answer.
    sla_due_at: Mapped[datetime | None]
    sla_kind: Mapped[str | None] = mapped_column(String(8))
    sla_state: Mapped[str | None] = mapped_column(String(12))
    # Since when the customer waits for an answer, SLA or not (core.desk.sla); None: nobody
    # owes them one.
    awaiting_since: Mapped[datetime | None]


class ConversationEvent(Base):
    """One audited transition: who did what to the conversation, when and why."""

    __tablename__ = "conversation_events"
    __table_args__ = (
        Index("ix_conversation_events_conversation_created", "conversation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind, "conversation_event_kind"))
    actor_type: Mapped[ActorType] = mapped_column(str_enum(ActorType, "actor_type"))
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    from_status: Mapped[ConversationStatus | None] = mapped_column(
        str_enum(ConversationStatus, "conversation_event_from_status")
    )
    to_status: Mapped[ConversationStatus | None] = mapped_column(
        str_enum(ConversationStatus, "conversation_event_to_status")
    )
    # Where it was and went: ids as they were (history outlives a deleted department or user).
    from_department_id: Mapped[int | None] = mapped_column(BigInteger)
    to_department_id: Mapped[int | None] = mapped_column(BigInteger)
    from_assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    to_assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)  # a private note (a transfer's), for staff
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
