"""The conversation lifecycle as messages drive it: find the contact's conversation on a
channel, start one, reopen a resolved one, and audit each transition.

One active (not resolved or closed) conversation per contact and channel. A customer's message
after resolution reopens the conversation when it was sent within the reopen window
(``ZAPDESK_REOPEN_WINDOW_S``, from ``resolved_at`` to the message's WhatsApp timestamp, so a
late delivery is judged by when it was written); a later one starts a new conversation.
Messages typed on the business phone never reopen anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.inbox.notices import Changes
from core.storage.models import (
    ActorType,
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    EventKind,
    Message,
)

ENDED = frozenset({ConversationStatus.RESOLVED, ConversationStatus.CLOSED})
Key = tuple[int, int]  # (contact_id, channel_id)


def first_status(channel: Channel) -> ConversationStatus:
    """Where a new conversation starts: with the bot (greeting and menu).

    Routing (the bot, departments and queues) takes over from here; this is its entry point.
    """
    return ConversationStatus.BOT


def reopened_status(conversation: Conversation) -> ConversationStatus:
    """Back to whoever had it: the attendant, else the department's queue, else the bot."""
    if conversation.assignee_id is not None:
        return ConversationStatus.OPEN
    if conversation.department_id is not None:
        return ConversationStatus.QUEUED
    return ConversationStatus.BOT


@dataclass
class _Audit:
    conversation: Conversation
    kind: EventKind
    actor: ActorType
    from_status: ConversationStatus | None
    to_status: ConversationStatus | None
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


class Lifecycle:
    """The conversations one batch touches, indexed by contact and channel."""

    def __init__(
        self,
        db: AsyncSession,
        changes: Changes,
        window: timedelta,
        conversations: Iterable[Conversation],
    ) -> None:
        self._db = db
        self._changes = changes
        self._window = window
        self._all: dict[Conversation, None] = dict.fromkeys(conversations)
        self._active: dict[Key, Conversation] = {}
        self._latest: dict[Key, Conversation] = {}
        self._audits: list[_Audit] = []
        self._reindex()

    def _reindex(self) -> None:
        self._active.clear()
        self._latest.clear()
        stored = sorted((c for c in self._all if c.id is not None), key=lambda c: c.id)
        for conversation in [*stored, *(c for c in self._all if c.id is None)]:
            key = (conversation.contact_id, conversation.channel_id)
            self._latest[key] = conversation
            if conversation.status not in ENDED:
                self._active[key] = conversation

    def active(self, contact: Contact, channel: Channel) -> Conversation | None:
        return self._active.get((contact.id, channel.id))

    def for_message(
        self, contact: Contact, channel: Channel, *, inbound: bool, at: datetime
    ) -> Conversation:
        """The conversation a message belongs to, started or reopened if need be."""
        key = (contact.id, channel.id)
        active = self._active.get(key)
        if active is not None:
            return active
        latest = self._latest.get(key)
        if not inbound:
            # Typed on the phone: continue the history quietly, start one only if there is none.
            return latest or self._start(contact, channel, at, ActorType.SYSTEM)
        if latest is not None and self._within_window(latest, at):
            self._reopen(latest)
            return latest
        return self._start(contact, channel, at, ActorType.CONTACT)

    def _within_window(self, conversation: Conversation, at: datetime) -> bool:
        ended_at = conversation.resolved_at or conversation.updated_at
        return at - ended_at <= self._window

    def _start(
        self, contact: Contact, channel: Channel, at: datetime, actor: ActorType
    ) -> Conversation:
        status = first_status(channel)
        conversation = Conversation(
            channel_id=channel.id,
            contact_id=contact.id,
            department_id=channel.department_id,
            assignee_id=None,
            status=status,
            unread_count=0,
            last_message_at=at,
            last_message_preview="",
        )
        self._db.add(conversation)
        self._all[conversation] = None
        key = (contact.id, channel.id)
        self._active[key] = self._latest[key] = conversation
        self._changes.conversation_created(conversation)
        reason = "first message" if actor is ActorType.CONTACT else "sent from the phone"
        self._audits.append(_Audit(conversation, EventKind.CREATED, actor, None, status, reason))
        return conversation

    def _reopen(self, conversation: Conversation) -> None:
        before, after = conversation.status, reopened_status(conversation)
        conversation.status = after
        conversation.resolved_at = None
        self._active[(conversation.contact_id, conversation.channel_id)] = conversation
        self._changes.conversation_updated(conversation)
        self._audits.append(
            _Audit(
                conversation,
                EventKind.STATUS_CHANGED,
                ActorType.CONTACT,
                before,
                after,
                "reopened by a new message",
            )
        )

    async def absorb(self, survivor: Contact, loser: Contact) -> None:
        """After a contact merge: the loser's conversations become the survivor's, and where
        both had an active one on a channel, one continues and the other is closed."""
        await self._db.execute(
            update(Conversation)
            .where(Conversation.contact_id == loser.id)
            .values(contact_id=survivor.id)
            .execution_options(synchronize_session="evaluate")
        )
        active = await self._db.scalars(
            select(Conversation)
            .where(Conversation.contact_id == survivor.id, Conversation.status.not_in(ENDED))
            .with_for_update()
        )
        by_channel: dict[int, list[Conversation]] = {}
        for conversation in active:
            self._all.setdefault(conversation, None)
            by_channel.setdefault(conversation.channel_id, []).append(conversation)
        for conversations in by_channel.values():
            # The one someone already works on continues; otherwise the oldest.
            conversations.sort(key=lambda c: (c.assignee_id is None, c.department_id is None, c.id))
            for other in conversations[1:]:
                await self._fold(conversations[0], other)
        for conversation in self._all:
            if conversation.contact_id == survivor.id:
                self._changes.conversation_updated(conversation)
        self._reindex()

    async def _fold(self, keep: Conversation, drop: Conversation) -> None:
        await self._db.execute(
            update(Message)
            .where(Message.conversation_id == drop.id)
            .values(conversation_id=keep.id)
            .execution_options(synchronize_session="evaluate")
        )
        keep.unread_count += drop.unread_count
        if drop.last_message_at > keep.last_message_at:
            keep.last_message_at = drop.last_message_at
            keep.last_message_preview = drop.last_message_preview
        before = drop.status
        drop.status = ConversationStatus.CLOSED
        drop.unread_count = 0
        drop.resolved_at = datetime.now(UTC)
        self._audits.append(
            _Audit(
                drop,
                EventKind.STATUS_CHANGED,
                ActorType.SYSTEM,
                before,
                ConversationStatus.CLOSED,
                f"contacts merged: continued in conversation {keep.id}",
                {"merged_into": keep.id},
            )
        )

    def write_audit(self) -> None:
        """Adds the audit events of this batch (after a flush: they need conversation ids)."""
        for audit in self._audits:
            self._db.add(
                ConversationEvent(
                    conversation_id=audit.conversation.id,
                    kind=audit.kind,
                    actor_type=audit.actor,
                    actor_user_id=None,
                    from_status=audit.from_status,
                    to_status=audit.to_status,
                    reason=audit.reason,
                    data=audit.data,
                )
            )
        self._audits.clear()
