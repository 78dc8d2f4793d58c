"""People who use the desk, their roles and the departments they work in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.base import Base, BigId, Json, str_enum, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    ATTENDANT = "attendant"


department_members = Table(
    "department_members",
    Base.metadata,
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "department_id",
        BigId,
        ForeignKey("departments.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None]
    # Their own settings: which notifications they want, desktop, sound, do-not-disturb.
    preferences: Mapped[dict[str, Any] | None] = mapped_column(Json)
