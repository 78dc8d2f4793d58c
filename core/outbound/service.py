"""Queueing an attendant's message: the pending message and its job, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.inbox import queries
from core.inbox.messages import show_in_conversation
from core.media import kind_of
from core.storage.base import MAX_ID
from core.storage.models import (
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    MediaFile,
    Message,
    MessageStatus,
    MessageType,
    User,
)
from core.storage.models.conversation import ActorType, ConversationEvent, EventKind
from core.storage.models.outbound import OutboundJob
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


@dataclass
class Queued:
    message: Message
    conversation: Conversation
    contact: Contact
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


async def queue_message(db: AsyncSession, user: User, conversation_id: int, body: SendIn) -> Queued:
    viewer = await queries.viewer_of(db, user)
    conversation, _ = await queries.get_conversation(db, viewer, conversation_id)
    if body.client_id is not None:
        found = await existing(db, body.client_id, conversation.id)
        if found is not None:
            return Queued(
                found, conversation, await load_contact(db, conversation.contact_id), False
            )
    message = Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        client_id=body.client_id or new_ulid(),
        direction=Direction.OUTBOUND,
        author_type=ActorType.USER,
        author_user_id=user.id,
        type=MessageType.TEXT,
        body=(body.text or "").strip(),
        quoted_wa_message_id=await _quoted(db, conversation.id, body.quoted_message_id),
        status=MessageStatus.PENDING,
        reactions={},
    )
    if body.media_id is not None:
        media = await db.get(MediaFile, body.media_id)
        if media is None:
            raise ValidationFailed(
                f"media_id: no upload {body.media_id}.", details={"media_id": body.media_id}
            )
        message.type = MessageType(kind_of(media.mime).value)
        message.media = {
            "id": media.id,
            "mime": media.mime,
            "size": media.size,
            "filename": media.filename,
            "sha256": media.sha256,
        }
    db.add(message)
    await db.flush()
    db.add(OutboundJob(message_id=message.id))
    show_in_conversation(conversation, message)
    _take(db, conversation, user)
    await db.flush()
    return Queued(message, conversation, await load_contact(db, conversation.contact_id), True)


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


def _take(db: AsyncSession, conversation: Conversation, user: User) -> None:
    """Answering a queued (or bot) conversation opens it, assigned to whoever answered when it
    had nobody, each change audited."""
    if conversation.status not in TAKEN_ON_ANSWER:
        return
    if conversation.assignee_id is None:
        conversation.assignee_id = user.id
        db.add(
            ConversationEvent(
                conversation_id=conversation.id,
                kind=EventKind.ASSIGNED,
                actor_type=ActorType.USER,
                actor_user_id=user.id,
                data={"assignee_id": user.id},
            )
        )
    db.add(
        ConversationEvent(
            conversation_id=conversation.id,
            kind=EventKind.STATUS_CHANGED,
            actor_type=ActorType.USER,
            actor_user_id=user.id,
            from_status=conversation.status,
            to_status=ConversationStatus.OPEN,
            data={},
        )
    )
    conversation.status = ConversationStatus.OPEN
