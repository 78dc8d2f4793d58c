"""Queueing a message from the company: the pending message and its send job, in one unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.desk.changes import Changes
from core.desk.machine import Actor, Machine
from core.desk.unit import load
from core.inbox import queries
from core.inbox.messages import show_in_conversation
from core.media import kind_of
from core.storage.base import MAX_ID, utcnow
from core.storage.models import (
    Contact,
    ConversationStatus,
    Direction,
    MediaFile,
    Message,
    MessageStatus,
    MessageType,
    User,
)
from core.storage.rows import ConversationRow, MessageRow, insert_rows
from sessions.ids import new_ulid
from zapdesk.errors import Conflict, NotFound, ValidationFailed

# Answering takes the conversation out of the queue (or from the bot) into the attendant's hands.
TAKEN_ON_ANSWER = (ConversationStatus.QUEUED, ConversationStatus.BOT)


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, max_length=65536, description="The text, or a media caption.")
    media_id: str | None = Field(None, max_length=26, description="An upload's id (`/media`).")
    quoted_message_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="The message this one answers."
    )
    client_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Chosen by the browser: a repeat answers the same message, never sends "
        "twice. A ULID when absent.",
    )

    @model_validator(mode="after")
    def _something(self) -> SendIn:
        if not (self.text or "").strip() and self.media_id is None:
            raise ValueError("give text or media_id")
        return self


SEND = "send"  # the job that sends one message (key: its id); core.outbound.sender runs it


@dataclass
class Queued:
    message: MessageRow | Message
    conversation: ConversationRow
    created: bool  # False: a repeated client_id, answered with the first message


async def existing(db: AsyncSession, client_id: str, conversation_id: int) -> Message | None:
    message = await db.scalar(select(Message).where(Message.client_id == client_id))
    if message is not None and message.conversation_id != conversation_id:
        raise Conflict(
            "This client_id was used for another conversation.",
            details={"client_id": client_id},
        )
    return message


async def load_contact(db: AsyncSession, contact_id: int) -> Contact:
    contact = await db.scalar(
        select(Contact).options(selectinload(Contact.identities)).where(Contact.id == contact_id)
    )
    if contact is None:  # pragma: no cover - a conversation's contact is deleted with it
        raise NotFound(f"No contact {contact_id}.")
    return contact


async def queue_message(
    db: AsyncSession, changes: Changes, user: User, conversation_id: int, body: SendIn
) -> Queued:
    """An attendant's message, stored pending with its send job (in the caller's unit)."""
    viewer = await queries.viewer_of(db, user)
    conversation = await load(db, conversation_id, viewer=viewer)
    if body.client_id is not None:
        found = await existing(db, body.client_id, conversation.key)
        if found is not None:
            return Queued(found, conversation, False)
    message = await queue(
        db,
        changes,
        conversation,
        body.text or "",
        author=Actor.user(user.id),
        client_id=body.client_id,
        quoted=await _quoted(db, conversation.key, body.quoted_message_id),
        media=await _media(db, body.media_id),
    )
    if conversation.status in TAKEN_ON_ANSWER and conversation.assignee_id is None:
        # Answering a queued (or bot) conversation gives it to whoever answered.
        Machine(changes).assign(conversation, user.id, Actor.user(user.id), "answered")
    return Queued(message, conversation, True)


async def queue(
    db: AsyncSession,
    changes: Changes,
    conversation: ConversationRow,
    text: str,
    *,
    author: Actor,
    **more: Any,
) -> MessageRow:
    """A message from the company (an attendant, the bot), stored pending with the job that
    sends it: durable before it is sent, never lost in between. ``more``: ``outgoing``'s
    client_id, quoted and media."""
    message = outgoing(conversation, text, author, **more)
    await queue_all(db, changes, [(conversation, message)])
    return message


def outgoing(
    conversation: ConversationRow,
    text: str,
    author: Actor,
    client_id: str | None = None,
    quoted: str | None = None,
    media: dict[str, Any] | None = None,
) -> MessageRow:
    """A company message, not stored yet (``queue_all`` stores it)."""
    kind = MessageType.TEXT if media is None else MessageType(kind_of(media["mime"]).value)
    return MessageRow(
        conversation_id=conversation.key,
        channel_id=conversation.channel_id,
        wa_message_id=None,
        client_id=client_id or new_ulid(),
        direction=Direction.OUTBOUND,
        author_type=author.type,
        author_user_id=author.user_id,
        type=kind,
        body=text.strip(),
        media=media,
        quoted_wa_message_id=quoted,
        reactions={},
        status=MessageStatus.PENDING,
        error=None,
        sent_at=None,
        created_at=utcnow(),
    )


async def queue_all(
    db: AsyncSession, changes: Changes, messages: list[tuple[ConversationRow, MessageRow]]
) -> None:
    """Company messages (made by ``outgoing``), each with its send job, in one INSERT."""
    if not messages:
        return
    await insert_rows(db, [message for _, message in messages], key=("client_id",))
    for conversation, message in messages:
        changes.enqueue(SEND, message.key)
        show_in_conversation(conversation, message)
        changes.message_created(message)
        changes.conversation_updated(conversation)


async def _media(db: AsyncSession, media_id: str | None) -> dict[str, Any] | None:
    if media_id is None:
        return None
    media = await db.get(MediaFile, media_id)
    if media is None:
        raise ValidationFailed(f"media_id: no upload {media_id}.", details={"media_id": media_id})
    return {
        "id": media.id,
        "mime": media.mime,
        "size": media.size,
        "filename": media.filename,
        "sha256": media.sha256,
    }


async def _quoted(db: AsyncSession, conversation_id: int, message_id: int | None) -> str | None:
    if message_id is None:
        return None
    quoted = await db.get(Message, message_id)
    if quoted is None or quoted.conversation_id != conversation_id or not quoted.wa_message_id:
        raise ValidationFailed(
            "quoted_message_id: no message of this conversation that WhatsApp knows.",
            details={"quoted_message_id": message_id},
        )
    return quoted.wa_message_id
