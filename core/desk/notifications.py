"""Notifications: the lines of one person's bell, and what each person wants to hear about.

A unit of work asks for one with ``Changes.notify`` (so it is stored with the change that caused
it and announced after the commit, on the person's "me" topic); whoever turned that kind off in
their preferences gets nothing, and nobody is told about their own doing. Desktop pop-ups, the
sound and do-not-disturb are the browser's business, by the same preferences.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.models import Contact, Conversation, Notification, User

# What the bell says.
ASSIGNED = "assigned"  # a conversation was given to you
TRANSFERRED = "transferred"  # a conversation was transferred to you
MENTIONED = "mentioned"  # a colleague mentioned you in a note
SLA_AT_RISK = "sla_at_risk"  # a conversation you answer for is about to miss its target
SLA_BREACHED = "sla_breached"  # ... and missed it
KINDS = (ASSIGNED, TRANSFERRED, MENTIONED, SLA_AT_RISK, SLA_BREACHED)

# A person's preferences: the kinds they want (``queued``, a new conversation in one of their
# queues, is only ever a pop-up in the browser), and how the browser tells them.
DEFAULTS: dict[str, bool] = {
    "queued": True,
    ASSIGNED: True,
    TRANSFERRED: True,
    MENTIONED: True,
    "sla": True,  # at risk and breached
    "desktop": True,
    "sound": True,
    "dnd": False,
}
_SWITCH = {SLA_AT_RISK: "sla", SLA_BREACHED: "sla"}


def preferences_of(stored: dict[str, Any] | None) -> dict[str, bool]:
    """The person's preferences, the defaults filling whatever they never set."""
    stored = stored or {}
    return {name: bool(stored.get(name, default)) for name, default in DEFAULTS.items()}


def wants(stored: dict[str, Any] | None, kind: str) -> bool:
    return preferences_of(stored)[_SWITCH.get(kind, kind)]


async def keep_wanted(db: AsyncSession, asked: list[Notification]) -> list[Notification]:
    """Of the notifications a unit asked for, those their (active) recipients want, each with
    the name of the conversation's customer (``contact_name``: what the bell says)."""
    ids = {n.user_id for n in asked}
    if not ids:
        return []
    rows = await db.execute(
        select(User.id, User.preferences).where(User.id.in_(ids), User.is_active.is_(True))
    )
    preferences = {user_id: stored for user_id, stored in rows}
    kept = [n for n in asked if n.user_id in preferences and wants(preferences[n.user_id], n.kind)]
    conversations = {n.conversation_id for n in kept if n.conversation_id is not None}
    if conversations:
        named = await db.execute(
            select(Conversation.id, func.coalesce(Contact.name, Contact.push_name, Contact.phone))
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id.in_(conversations))
        )
        names = dict(named.tuples().all())
        for notification in kept:
            name = names.get(notification.conversation_id or 0)
            if name and "contact_name" not in notification.data:
                notification.data = {**notification.data, "contact_name": name}
    return kept
