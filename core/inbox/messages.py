"""Messages as WhatsApp reports them: new ones, the echo of what was sent, receipts, edits,
revocations and reactions. Each change answers whether it changed anything, so a repeated
event is recognised as a duplicate and publishes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.inbox.text import clean, clean_json, preview
from core.storage.models import (
    ActorType,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MessageType,
)
from core.storage.rows import ConversationRow, MessageRow
from sessions.events import (
    DeliveryStatus,
    EditedData,
    MessageData,
    MessageKind,
    ReactionData,
)

# Delivery only moves forward: a late "delivered" never hides a "read".
RANK: dict[MessageStatus, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
    MessageStatus.PLAYED: 4,
}
_TYPES: dict[MessageKind, MessageType] = {
    kind: MessageType(kind.value) for kind in MessageKind if kind is not MessageKind.UNSUPPORTED
}
FAILED_REASON = "WhatsApp did not deliver the message."


def content_of(data: MessageData) -> tuple[MessageType, str, dict[str, Any] | None]:
    """(type, body, media) as stored: media files, places and contact cards in ``media``."""
    body = clean(data.text)
    if data.kind is MessageKind.UNSUPPORTED:
        # Something this version cannot show (a poll, a payment...): kept, and said so.
        return MessageType.TEXT, body, {"unsupported": True}
    kind = _TYPES[data.kind]
    media: dict[str, Any] | None = None
    if data.media is not None:
        media = data.media.model_dump(mode="json", exclude_none=True)
    elif data.location is not None:
        media = data.location.model_dump(mode="json", exclude_none=True)
    elif data.contact_card is not None:
        media = data.contact_card.model_dump(mode="json")
    return kind, body, None if media is None else clean_json(media)


def received(data: MessageData, channel_id: int, conversation: ConversationRow) -> MessageRow:
    """A message the customer wrote."""
    return _message(data, channel_id, conversation, Direction.INBOUND, ActorType.CONTACT)


def typed_on_phone(data: MessageData, channel_id: int, conversation: ConversationRow) -> MessageRow:
    """A message the business sent from outside the desk (the phone itself)."""
    return _message(data, channel_id, conversation, Direction.OUTBOUND, ActorType.SYSTEM)


def _message(
    data: MessageData,
    channel_id: int,
    conversation: ConversationRow,
    direction: Direction,
    author: ActorType,
) -> MessageRow:
    kind, body, media = content_of(data)
    inbound = direction is Direction.INBOUND
    return MessageRow(
        conversation_id=conversation.key,
        channel_id=channel_id,
        wa_message_id=data.wa_id,
        client_id=data.client_id,
        direction=direction,
        author_type=author,
        author_user_id=None,
        type=kind,
        body=body,
        media=media,
        quoted_wa_message_id=data.quoted.wa_id if data.quoted else None,
        reactions={},
        status=MessageStatus.RECEIVED if inbound else MessageStatus.SENT,
        error=None,
        sent_at=data.timestamp,
        created_at=data.timestamp,
    )


def show_in_conversation(
    conversation: Conversation | ConversationRow, message: Message | MessageRow
) -> None:
    """The conversation list shows the newest message (late old ones do not replace it)."""
    if message.direction is Direction.INBOUND:
        conversation.unread_count += 1
    if message.created_at >= conversation.last_message_at or not conversation.last_message_preview:
        conversation.last_message_at = max(conversation.last_message_at, message.created_at)
        conversation.last_message_preview = preview(message.type, message.body, message.media)


def refresh_preview(conversation: ConversationRow, message: MessageRow, text: str) -> bool:
    """After an edit or a revocation: the list shows it if this is the newest message."""
    if message.created_at < conversation.last_message_at:
        return False
    conversation.last_message_preview = text
    return True


def echoed(message: MessageRow, data: MessageData) -> bool:
    """The desk's own message, as WhatsApp echoes it: now it has a WhatsApp id and is sent."""
    changed = False
    if message.wa_message_id is None:
        message.wa_message_id = data.wa_id
        changed = True
    if message.status is MessageStatus.PENDING or message.status is MessageStatus.FAILED:
        message.status = MessageStatus.SENT
        message.error = None
        changed = True
    if message.sent_at is None:
        message.sent_at = data.timestamp
        changed = True
    return changed


def receipt(message: MessageRow, status: DeliveryStatus, at: datetime, error: str | None) -> bool:
    """sent < delivered < read < played, never backwards; failed only before delivery."""
    current = message.status
    if message.direction is Direction.INBOUND:
        return False  # our own reading of the customer's message is not a delivery state
    if status is DeliveryStatus.FAILED:
        if current not in (MessageStatus.PENDING, MessageStatus.SENT):
            return False
        message.status = MessageStatus.FAILED
        message.error = clean(error or FAILED_REASON)
        return True
    new = MessageStatus(status.value)
    if current is not MessageStatus.FAILED and RANK[new] <= RANK.get(current, len(RANK)):
        return False
    message.status = new
    message.error = None  # a receipt after a failure proves it arrived after all
    if message.sent_at is None:
        message.sent_at = at
    return True


def edited(message: MessageRow, data: EditedData) -> bool:
    if message.edited_at is not None and data.edited_at <= message.edited_at:
        return False
    message.body = clean(data.text)
    message.edited_at = data.edited_at
    return True


def revoked(message: MessageRow, at: datetime) -> bool:
    """Deleted for everyone: kept for the record, marked so the desk shows it as deleted."""
    if message.revoked_at is not None:
        return False
    message.revoked_at = at
    return True


def reaction_key(data: ReactionData) -> str:
    """Who reacted: one reaction per person, keyed by their phone JID when known."""
    return clean(data.sender.pn or data.sender.jid)


def reacted(message: MessageRow, data: ReactionData) -> bool:
    """``reactions`` maps sender → emoji; an empty emoji removes the sender's reaction."""
    key, emoji = reaction_key(data), clean(data.emoji)
    reactions = dict(message.reactions)
    if emoji:
        if reactions.get(key) == emoji:
            return False
        reactions[key] = emoji
    elif reactions.pop(key, None) is None:
        return False
    message.reactions = reactions  # a new dict, so the change is seen and stored
    return True
