"""Contacts: one customer, reachable through one or more WhatsApp identities.

WhatsApp addresses the same person by a phone-number JID (``5511...@s.whatsapp.net``) and by a
``@lid`` JID; both map to one contact through ``contact_identities``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.storage.base import Base, BigId, str_enum, utcnow


class IdentityKind(StrEnum):
    PHONE = "pn"
    LID = "lid"


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(120))
    push_name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    identities: Mapped[list[ContactIdentity]] = relationship(
        back_populates="contact", lazy="selectin", cascade="all, delete-orphan"
    )


class ContactIdentity(Base):
    __tablename__ = "contact_identities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    jid: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[IdentityKind] = mapped_column(str_enum(IdentityKind, "identity_kind"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="identities", lazy="raise")
