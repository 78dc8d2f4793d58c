"""Channels: the company's linked WhatsApp numbers, one per gateway session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.base import Base, BigId, Json, utcnow


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(20))
    jid: Mapped[str | None] = mapped_column(String(100))
    # The session state as last reported by the gateway (the closed set lives in sessions/).
    status: Mapped[str] = mapped_column(String(16), default="stopped")
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_at: Mapped[datetime | None]
    # The number's bot (core.desk.bot.BotConfig); None: never set up.
    bot: Mapped[dict[str, Any] | None] = mapped_column(Json)
    department_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("departments.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
