"""Messages of a conversation, both directions, with their WhatsApp delivery state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.base import Base, BigId, str_enum, utcnow
from core.storage.models.conversation import ActorType


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VOICE = "voice"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT_CARD = "contact_card"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    RECEIVED = "received"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # At-least-once delivery from the gateway never shows a message twice.
        UniqueConstraint("channel_id", "wa_message_id"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
        # The monitoring panel counts the last hour's messages every few seconds.
        Index("ix_messages_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    wa_message_id: Mapped[str | None] = mapped_column(String(128))
    # Chosen by core for outbound messages so that a retried send never sends twice.
    client_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "message_direction"))
    author_type: Mapped[ActorType] = mapped_column(str_enum(ActorType, "message_author_type"))
    author_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    type: Mapped[MessageType] = mapped_column(
        str_enum(MessageType, "message_type"), default=MessageType.TEXT
    )
    body: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[dict[str, Any] | None] = mapped_column()
    quoted_wa_message_id: Mapped[str | None] = mapped_column(String(128))
    reactions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus, "message_status"))
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
