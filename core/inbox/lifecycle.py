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
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk import csat
from core.desk.bot import bot_on
from core.desk.changes import Changes
from core.desk.machine import CONTACT, ENDED, SYSTEM, Actor, Machine
from core.storage.models import Channel, Conversation, ConversationStatus, Message
from core.storage.rows import ContactRow, ConversationRow, MessageRow, insert_rows

Key = tuple[int, int]  # (contact_id, channel_id)


def first_place(
    channel: Channel, default_department: int | None
) -> tuple[ConversationStatus, int | None]:
    """Where a new conversation starts: with the number's bot when it has one switched on,
    else in the queue of the number's department (or the default one)."""
    if bot_on(channel):
        return ConversationStatus.BOT, None
    department = channel.department_id or default_department
    if department is None:
        return ConversationStatus.BOT, None
    return ConversationStatus.QUEUED, department


class Lifecycle:
    """The conversations one batch touches, indexed by contact and channel."""

    def __init__(
        self,
        db: AsyncSession,
        changes: Changes,
        window: timedelta,
        conversations: Iterable[ConversationRow],
        messages: Iterable[MessageRow] = (),
    ) -> None:
        self._db = db
        self._changes = changes
        self._machine = Machine(changes)
        self._window = window
        # Where a new conversation goes when its number has no department (set by the caller
        # before any conversation may start: it costs a query).
        self.default_department: int | None = None
        self._all: dict[ConversationRow, None] = dict.fromkeys(conversations)
        self._messages = messages  # the batch's loaded messages: a merge may move them
        self._active: dict[Key, ConversationRow] = {}
        self._latest: dict[Key, ConversationRow] = {}
        self._reindex()

    def _reindex(self) -> None:
        self._active.clear()
        self._latest.clear()
        stored = sorted((c for c in self._all if c.id is not None), key=lambda c: c.id or 0)
        for conversation in [*stored, *(c for c in self._all if c.id is None)]:
            key = (conversation.contact_id, conversation.channel_id)
            self._latest[key] = conversation
            if conversation.status not in ENDED:
                self._active[key] = conversation

    def active(self, contact: ContactRow, channel: Channel) -> ConversationRow | None:
        return self._active.get((contact.key, channel.id))

    def for_message(
        self, contact: ContactRow, channel: Channel, *, inbound: bool, at: datetime, text: str = ""
    ) -> ConversationRow:
        """The conversation a message belongs to, started or reopened if need be (an answer
        to the satisfaction survey stays in the resolved conversation it rates)."""
        key = (contact.key, channel.id)
        active = self._active.get(key)
        if active is not None:
            if inbound and active.status is ConversationStatus.PENDING:
                self._machine.resume(active, CONTACT, "the customer answered")
            return active
        latest = self._latest.get(key)
        if not inbound:
            # Typed on the phone: continue the history quietly, start one only if there is none.
            return latest or self._start(contact, channel, at, SYSTEM)
        if latest is not None and csat.take(self._machine, latest, text, at):
            return latest
        if (
            latest is not None
            and latest.status is ConversationStatus.RESOLVED
            and self._within_window(latest, at)
        ):
            self._machine.reopen(latest, CONTACT, "reopened by a new message")
            self._active[key] = latest
            return latest
        return self._start(contact, channel, at, CONTACT)

    def _within_window(self, conversation: ConversationRow, at: datetime) -> bool:
        ended_at = conversation.resolved_at or conversation.updated_at
        return at - ended_at <= self._window

    def _start(
        self, contact: ContactRow, channel: Channel, at: datetime, actor: Actor
    ) -> ConversationRow:
        status, department = first_place(channel, self.default_department)
        conversation = ConversationRow(
            channel_id=channel.id,
            contact_id=contact.key,
            department_id=department,
            assignee_id=None,
            status=status,
            unread_count=0,
            last_message_at=at,
            last_message_preview="",
        )
        self._all[conversation] = None
        key = (contact.key, channel.id)
        self._active[key] = self._latest[key] = conversation
        reason = "first message" if actor is CONTACT else "sent from the phone"
        self._machine.start(conversation, actor, reason)
        return conversation

    async def absorb(self, survivor: ContactRow, loser: ContactRow) -> None:
        """After a contact merge: the loser's conversations become the survivor's, and where
        both had an active one on a channel, one continues and the other is closed."""
        await self._db.execute(
            update(ConversationRow.table)
            .where(Conversation.contact_id == loser.id)
            .values(contact_id=survivor.id)
        )
        for conversation in self._all:
            if conversation.contact_id == loser.id:
                conversation.contact_id = survivor.id  # type: ignore[assignment]
        held = {c.id: c for c in self._all if c.id is not None}
        active = await self._db.execute(
            select(*ConversationRow.selected())
            .where(
                ConversationRow.table.c.contact_id == survivor.id,
                ConversationRow.table.c.status.not_in(ENDED),
            )
            .with_for_update()
        )
        by_channel: dict[int, list[ConversationRow]] = {}
        for row in active.mappings():
            conversation = held.get(row["id"]) or ConversationRow.loaded(row)
            self._all.setdefault(conversation, None)
            by_channel.setdefault(conversation.channel_id, []).append(conversation)
        for conversations in by_channel.values():
            # The one someone already works on continues; otherwise the oldest.
            conversations.sort(
                key=lambda c: (c.assignee_id is None, c.department_id is None, c.id or 0)
            )
            for other in conversations[1:]:
                await self._fold(conversations[0], other)
        for conversation in self._all:
            if conversation.contact_id == survivor.id:
                self._changes.conversation_updated(conversation)
        self._reindex()

    async def _fold(self, keep: ConversationRow, drop: ConversationRow) -> None:
        await self._db.execute(
            update(MessageRow.table)
            .where(Message.conversation_id == drop.id)
            .values(conversation_id=keep.id)
        )
        for message in self._messages:
            if message.conversation_id == drop.id:
                message.conversation_id = keep.id  # type: ignore[assignment]
        keep.unread_count += drop.unread_count
        if drop.last_message_at > keep.last_message_at:
            keep.last_message_at = drop.last_message_at
            keep.last_message_preview = drop.last_message_preview
        drop.unread_count = 0
        self._machine.close(
            drop,
            SYSTEM,
            f"contacts merged: continued in conversation {keep.id}",
            {"merged_into": keep.id},
        )

    def conversations(self) -> Iterable[ConversationRow]:
        return self._all

    async def store_new(self) -> None:
        """Inserts the conversations started in this batch (their messages need the ids)."""
        # One new conversation per contact and channel at most: that pair tells them apart.
        new = [c for c in self._all if c.id is None]
        await insert_rows(self._db, new, key=("contact_id", "channel_id"))
