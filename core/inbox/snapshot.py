"""The rows one batch needs, loaded with a few queries up front rather than one per event.

Rows the batch may change (messages, conversations) are locked (``FOR UPDATE`` on PostgreSQL;
SQLite serializes writers anyway), so that a batch and a desk action touching the same
conversation apply one after the other. (No ``ORDER BY`` with the lock: on PostgreSQL the pair
made the query several times slower; a deadlock between two batches is retried instead.)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.machine import ENDED
from core.inbox.contacts import canonical, contacts_by_jid, identities_of
from core.inbox.sql import among, chunked
from core.storage.models import Channel
from core.storage.rows import ContactRow, ConversationRow, MessageRow, rows_of
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
)

# Table columns, not ORM attributes: a statement naming only these runs as plain Core SQL.
MESSAGE, CONVERSATION = MessageRow.table.c, ConversationRow.table.c


@dataclass
class Wanted:
    """What the events refer to."""

    jids: set[str] = field(default_factory=set)
    wa_ids: set[str] = field(default_factory=set)
    client_ids: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, events: Sequence[Event]) -> Wanted:
        wanted = cls()
        for event in events:
            if isinstance(event, MessageReceivedEvent | MessageSentEvent):
                data = event.data
                wanted.wa_ids.add(data.wa_id)
                if data.client_id:
                    wanted.client_ids.add(data.client_id)
                peers = [data.chat] if data.from_me else [data.chat, data.sender]
                wanted.jids.update(identities_of(peers))
            elif isinstance(event, MessageStatusEvent):
                wanted.wa_ids.update(event.data.wa_ids)
                if event.data.client_id:
                    wanted.client_ids.add(event.data.client_id)
            elif isinstance(event, MessageEditedEvent | MessageRevokedEvent | MessageReactionEvent):
                wanted.wa_ids.add(event.data.wa_id)
            elif isinstance(event, ContactUpdatedEvent):
                wanted.jids.update(identities_of([event.data.peer]))
            elif isinstance(event, ChatPresenceEvent):
                wanted.jids.add(canonical(event.data.chat))
        return wanted


@dataclass
class Snapshot:
    owners: dict[str, ContactRow]  # JID → contact
    messages: dict[tuple[int, str], MessageRow]  # (channel id, WhatsApp id) → message
    by_client: dict[str, MessageRow]  # the desk's client_id → message
    conversations: dict[int, ConversationRow]


async def load(
    db: AsyncSession, events: Sequence[Event], channels: Collection[Channel]
) -> Snapshot:
    wanted = Wanted.of(events)
    channel_ids = [channel.id for channel in channels]

    contacts = await contacts_by_jid(db, wanted.jids)
    contact_ids = set(contacts)
    owners: dict[str, ContactRow] = {}
    for contact in contacts.values():
        for identity in contact.identities:
            owners[identity.jid] = contact

    messages = await messages_by_wa_id(db, channel_ids, wanted.wa_ids)
    found = list(messages.values())
    by_client: dict[str, MessageRow] = {}
    for client_ids in chunked(wanted.client_ids):
        found += await rows_of(
            db,
            MessageRow,
            select(*MessageRow.selected())
            .where(among(db, MESSAGE.client_id, client_ids))
            .with_for_update(),
        )
    for message in found:
        if message.wa_message_id is not None:
            messages[(message.channel_id, message.wa_message_id)] = message
        if message.client_id is not None:
            by_client[message.client_id] = message

    conversations: dict[int, ConversationRow] = {}
    for ids in chunked(contact_ids):
        # Each pair's active conversations and its latest one (to reopen or continue).
        pair = (
            among(db, CONVERSATION.contact_id, ids),
            among(db, CONVERSATION.channel_id, channel_ids),
        )
        latest = (
            select(func.max(CONVERSATION.id))
            .where(*pair)
            .group_by(CONVERSATION.contact_id, CONVERSATION.channel_id)
        )
        for conversation in await rows_of(
            db,
            ConversationRow,
            select(*ConversationRow.selected())
            .where(*pair, or_(CONVERSATION.status.not_in(ENDED), CONVERSATION.id.in_(latest)))
            .with_for_update(),
        ):
            conversations[conversation.id] = conversation  # type: ignore[index]
    referenced = {message.conversation_id for message in found} - conversations.keys()
    for ids in chunked(referenced):
        for conversation in await rows_of(
            db,
            ConversationRow,
            select(*ConversationRow.selected())
            .where(among(db, CONVERSATION.id, ids))
            .with_for_update(),
        ):
            conversations[conversation.id] = conversation  # type: ignore[index]
    return Snapshot(owners, messages, by_client, conversations)


async def messages_by_wa_id(
    db: AsyncSession, channel_ids: Collection[int], wa_ids: Collection[str]
) -> dict[tuple[int, str], MessageRow]:
    """The messages with these WhatsApp ids on these channels, locked for this batch."""
    found: dict[tuple[int, str], MessageRow] = {}
    postgres = db.get_bind().dialect.name == "postgresql"
    for chunk in chunked(wa_ids):
        statement = select(*MessageRow.selected())
        if postgres:
            # Joined to the (channel, id) pairs: each is one probe of the unique index, a plan
            # that stale statistics cannot turn into a scan of the channel's every message
            # (which they did, 0.1 -> 11 ms, while a young table grew fast).
            pairs = [(channel, wa_id) for channel in channel_ids for wa_id in chunk]
            keys = (
                func.unnest(
                    bindparam(None, [c for c, _ in pairs], type_=ARRAY(MESSAGE.channel_id.type)),
                    bindparam(None, [w for _, w in pairs], type_=ARRAY(MESSAGE.wa_message_id.type)),
                )
                .table_valued("channel_id", "wa_message_id")
                .render_derived(name="k")
            )
            statement = statement.join(
                keys,
                and_(
                    MESSAGE.channel_id == keys.c.channel_id,
                    MESSAGE.wa_message_id == keys.c.wa_message_id,
                ),
            ).with_for_update(of=MessageRow.table)
        else:
            statement = statement.where(
                MESSAGE.channel_id.in_(list(channel_ids)), MESSAGE.wa_message_id.in_(chunk)
            ).with_for_update()
        for message in await rows_of(db, MessageRow, statement):
            if message.wa_message_id is not None:
                found[(message.channel_id, message.wa_message_id)] = message
    return found
