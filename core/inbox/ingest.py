"""Applying one batch of the gateway's events: in one transaction, in order, idempotently.

The batch is applied in three passes over the events, in their order, so that each kind of row
is written with one flush rather than one round trip per event:

1. identities: each message's and ``contact.updated``'s people resolve to contacts (created,
   linked, merged);
2. conversations: each new message finds its conversation (continued, reopened or started);
3. everything else, in order: messages inserted, echoes matched, receipts, edits, revocations,
   reactions, session states, QR codes, typing.

Idempotence: a message is unique per channel on its WhatsApp id, and every other change is
applied only if it changes something (receipts only advance, a session state only if newer,
an edit only if later...), so an event delivered again is counted as a duplicate and publishes
nothing. Events repeated within one batch (same ``Event.id``) count once.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.desk import bot, sla
from core.desk.bot import bot_on
from core.desk.changes import Changes
from core.desk.departments import default_department
from core.desk.unit import retriable
from core.inbox import messages, snapshot
from core.inbox.channels import channels_for, record_status
from core.inbox.contacts import ContactBook, identities_of
from core.inbox.lifecycle import Lifecycle
from core.inbox.text import REVOKED_PREVIEW, preview
from core.jobs import Wanted
from core.realtime.bus import Notice
from core.realtime.topics import TYPING_OFF, TYPING_ON
from core.storage.models import Channel, ConversationStatus, Direction
from core.storage.rows import ContactRow, ConversationRow, MessageRow, insert_rows, store_changes
from sessions.events import (
    ChatPresenceEvent,
    ContactUpdatedEvent,
    Event,
    MessageEditedEvent,
    MessageReactionEvent,
    MessageReceivedEvent,
    MessageRevokedEvent,
    MessageSentEvent,
    MessageStatusEvent,
    PresenceState,
    SessionPairCodeEvent,
    SessionQREvent,
    SessionStatusEvent,
)

log = structlog.get_logger("core.inbox.ingest")

ATTEMPTS = 3
# A typing indicator older than this is history, not news (a redelivered batch).
PRESENCE_FRESH = timedelta(seconds=30)


class Effect(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # already applied: nothing changed
    IGNORED = "ignored"  # nothing to apply it to (a group, a receipt for an unknown message)


@dataclass
class Outcome:
    accepted: int
    duplicates: int
    notices: list[Notice]
    jobs: list[Wanted]


@dataclass
class _NewMessage:
    event: MessageReceivedEvent | MessageSentEvent
    channel: Channel
    contact: ContactRow


async def ingest_batch(
    sessions: async_sessionmaker[AsyncSession], events: Sequence[Event], reopen_window: timedelta
) -> Outcome:
    """Applies the batch and commits; the notices are for the caller to publish afterwards."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with sessions.begin() as db:
                return await BatchIngest(db, events, reopen_window).run()
        except DBAPIError as exc:
            if attempt == ATTEMPTS or not retriable(exc):
                raise
            log.warning("ingest_retry", attempt=attempt, error=type(exc.orig).__name__)
    raise AssertionError("unreachable")  # pragma: no cover


class BatchIngest:
    def __init__(self, db: AsyncSession, events: Sequence[Event], reopen_window: timedelta):
        self._db = db
        self._events = events
        self._window = reopen_window
        self._now = datetime.now(UTC)
        self._changes = Changes()
        self._effects: list[Effect | None] = [None] * len(events)
        self._new: dict[int, _NewMessage] = {}
        self._placed: dict[int, ConversationRow] = {}
        self._echoes: dict[int, MessageRow] = {}
        self._new_keys: set[tuple[int, str]] = set()
        self._new_client_ids: set[str] = set()
        self._inserted: list[MessageRow] = []

    async def run(self) -> Outcome:
        seen: set[str] = set()
        for index, event in enumerate(self._events):
            if event.id in seen:
                self._effects[index] = Effect.DUPLICATE
            seen.add(event.id)
        db = self._db
        self._channels, created = await channels_for(db, {e.session_id for e in self._events})
        for channel in created:
            self._changes.channel_updated(channel)
        snap = await snapshot.load(db, self._events, self._channels.values())
        self._snap = snap
        self._conversations = snap.conversations
        loaded = list(dict.fromkeys([*snap.messages.values(), *snap.by_client.values()]))
        self._lifecycle = Lifecycle(
            db, self._changes, self._window, snap.conversations.values(), loaded
        )
        self._book = ContactBook(db, snap.owners, self._lifecycle.absorb)

        await self._identify()
        await self._book.store()
        await self._converse()
        await self._lifecycle.store_new()
        for conversation in self._placed.values():
            self._conversations[conversation.id] = conversation  # type: ignore[index]
        for index, event in enumerate(self._events):
            if self._effects[index] is None:
                self._effects[index] = await self._apply(index, event)
        await db.flush()  # the channels (ORM objects: one per session)
        await insert_rows(db, self._inserted, key=("channel_id", "wa_message_id"))
        await sla.settle(db, self._changes)  # the customers' response clocks
        await store_changes(db, [*self._lifecycle.conversations(), *loaded])
        await self._changes.write(db)  # the transitions' audit lines and the jobs they need

        notices = await self._changes.notices(db, self._book.known(), self._conversations)
        duplicates = self._effects.count(Effect.DUPLICATE)
        return Outcome(len(self._events) - duplicates, duplicates, notices, self._changes.enqueued)

    # Pass 1: who everyone is.

    async def _identify(self) -> None:
        for index, event in enumerate(self._events):
            if self._effects[index] is not None:
                continue
            if isinstance(event, ContactUpdatedEvent):
                peer = event.data.peer
                identities = identities_of([peer])
                if not identities:
                    self._effects[index] = Effect.IGNORED
                    continue
                _, changed = await self._book.identify(identities, peer.name, rename=False)
                self._effects[index] = Effect.APPLIED if changed else Effect.DUPLICATE
            elif isinstance(event, MessageReceivedEvent | MessageSentEvent):
                self._effects[index] = await self._plan_message(index, event)

    async def _plan_message(
        self, index: int, event: MessageReceivedEvent | MessageSentEvent
    ) -> Effect | None:
        data = event.data
        channel = self._channels[event.session_id]
        if data.client_id is not None and data.client_id in self._snap.by_client:
            self._echoes[index] = self._snap.by_client[data.client_id]
            return None
        key = (channel.id, data.wa_id)
        if key in self._snap.messages or key in self._new_keys:
            return Effect.DUPLICATE
        if data.client_id is not None and data.client_id in self._new_client_ids:
            return Effect.DUPLICATE
        inbound = isinstance(event, MessageReceivedEvent)
        identities = identities_of([data.chat, data.sender] if inbound else [data.chat])
        if data.is_group or not identities:
            return Effect.IGNORED  # the desk serves people one to one, not groups
        name = (data.sender.name or data.chat.name) if inbound else None
        contact, _ = await self._book.identify(identities, name)
        self._new_keys.add(key)
        if data.client_id is not None:
            self._new_client_ids.add(data.client_id)
        self._new[index] = _NewMessage(event, channel, contact)
        return None

    # Pass 2: which conversation each new message belongs to.

    async def _converse(self) -> None:
        for item in self._new.values():
            item.contact = self._book.current(item.contact)
        lifecycle = self._lifecycle
        if any(lifecycle.active(i.contact, i.channel) is None for i in self._new.values()):
            # Some may start a conversation: where it goes when its number has no department.
            lifecycle.default_department = await default_department(self._db)
        for index, item in self._new.items():
            self._placed[index] = self._lifecycle.for_message(
                item.contact,
                item.channel,
                inbound=isinstance(item.event, MessageReceivedEvent),
                at=item.event.data.timestamp,
                text=item.event.data.text,
            )

    # Pass 3: everything, in order.

    async def _apply(self, index: int, event: Event) -> Effect:
        channel = self._channels[event.session_id]
        if isinstance(event, MessageReceivedEvent | MessageSentEvent):
            if index in self._echoes:
                return self._echo(channel, event, self._echoes[index])
            return self._insert(self._new[index], self._placed[index])
        if isinstance(event, MessageStatusEvent):
            return self._receipt(channel, event)
        if isinstance(event, MessageEditedEvent | MessageRevokedEvent | MessageReactionEvent):
            return self._change(channel, event)
        if isinstance(event, SessionStatusEvent):
            if not record_status(channel, event):
                return Effect.DUPLICATE
            self._changes.channel_updated(channel)
            return Effect.APPLIED
        if isinstance(event, SessionQREvent | SessionPairCodeEvent):
            return self._link_code(channel, event)
        if isinstance(event, ChatPresenceEvent):
            return self._presence(channel, event)
        return Effect.IGNORED  # pragma: no cover - contact.updated is applied in pass 1

    def _insert(self, item: _NewMessage, conversation: ConversationRow) -> Effect:
        data = item.event.data
        if isinstance(item.event, MessageReceivedEvent):
            message = messages.received(data, item.channel.id, conversation)
        else:
            message = messages.typed_on_phone(data, item.channel.id, conversation)
        self._inserted.append(message)  # stored at the end, with one multi-row INSERT
        self._snap.messages[(item.channel.id, data.wa_id)] = message
        if message.client_id is not None:
            self._snap.by_client[message.client_id] = message
        messages.show_in_conversation(conversation, message)
        inbound = message.direction is Direction.INBOUND
        if inbound and conversation.status is ConversationStatus.BOT and bot_on(item.channel):
            self._changes.enqueue(bot.REPLY, conversation.key)  # the bot answers, soon
        self._changes.message_created(message)
        self._changes.conversation_updated(conversation)
        return Effect.APPLIED

    def _echo(
        self,
        channel: Channel,
        event: MessageReceivedEvent | MessageSentEvent,
        message: MessageRow,
    ) -> Effect:
        key = (channel.id, event.data.wa_id)
        holder = self._snap.messages.get(key)
        if holder is not None and holder is not message:
            return Effect.DUPLICATE  # that WhatsApp id is already another message's
        if message.wa_message_id not in (None, event.data.wa_id):
            return Effect.IGNORED
        if not messages.echoed(message, event.data):
            return Effect.DUPLICATE
        self._snap.messages[key] = message
        self._changes.message_updated(message)
        return Effect.APPLIED

    def _receipt(self, channel: Channel, event: MessageStatusEvent) -> Effect:
        data = event.data
        found = [
            self._snap.messages[(channel.id, wa_id)]
            for wa_id in dict.fromkeys(data.wa_ids)
            if (channel.id, wa_id) in self._snap.messages
        ]
        changed = False
        if not found and data.client_id is not None and data.client_id in self._snap.by_client:
            # A receipt for a desk message whose echo has not come yet: its client_id says which.
            message = self._snap.by_client[data.client_id]
            found = [message]
            key = (channel.id, data.wa_ids[0]) if len(data.wa_ids) == 1 else None
            if message.wa_message_id is None and key and key not in self._snap.messages:
                message.wa_message_id = key[1]
                self._snap.messages[key] = message
                changed = True
        if not found:
            return Effect.IGNORED
        for message in found:
            if messages.receipt(message, data.status, data.at, data.error) or changed:
                self._changes.message_updated(message)
                changed = True
        return Effect.APPLIED if changed else Effect.DUPLICATE

    def _change(
        self,
        channel: Channel,
        event: MessageEditedEvent | MessageRevokedEvent | MessageReactionEvent,
    ) -> Effect:
        message = self._snap.messages.get((channel.id, event.data.wa_id))
        if message is None:
            return Effect.IGNORED
        if isinstance(event, MessageEditedEvent):
            changed = messages.edited(message, event.data)
            shown = preview(message.type, message.body, message.media)
        elif isinstance(event, MessageRevokedEvent):
            changed = messages.revoked(message, event.at)
            shown = REVOKED_PREVIEW
        else:
            changed = messages.reacted(message, event.data)
            shown = None
        if not changed:
            return Effect.DUPLICATE
        self._changes.message_updated(message)
        conversation = self._conversations.get(message.conversation_id)
        if (
            shown is not None
            and conversation is not None
            and messages.refresh_preview(conversation, message, shown)
        ):
            self._changes.conversation_updated(conversation)
        return Effect.APPLIED

    def _link_code(self, channel: Channel, event: SessionQREvent | SessionPairCodeEvent) -> Effect:
        data = event.data
        if data.expires_at <= self._now:
            return Effect.IGNORED  # a redelivered code that can no longer be used
        notice = {
            "session_id": channel.session_id,
            "channel_id": channel.id,
            "kind": "qr" if isinstance(event, SessionQREvent) else "pair_code",
            "code": data.code,
            "expires_at": data.expires_at.isoformat(),
        }
        if isinstance(event, SessionQREvent):
            notice["index"] = event.data.index
        self._changes.link_code(channel.session_id, notice)
        return Effect.APPLIED

    def _presence(self, channel: Channel, event: ChatPresenceEvent) -> Effect:
        contact = self._book.owner(event.data.chat)
        if contact is None or self._now - event.at > PRESENCE_FRESH:
            return Effect.IGNORED
        conversation = self._lifecycle.active(contact, channel)
        if conversation is None:
            return Effect.IGNORED
        state = event.data.state
        kind = TYPING_OFF if state is PresenceState.PAUSED else TYPING_ON
        data = {"conversation_id": conversation.id, "contact_id": contact.id, "state": state.value}
        self._changes.typing_changed(conversation, kind, data)
        return Effect.APPLIED
