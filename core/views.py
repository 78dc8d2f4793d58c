"""What the API and the websocket show of each thing: one pydantic model per thing, built
from the stored rows. The REST responses, the bus notices and the web app all use these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.inbox import content
from core.inbox.content import CardOut, ReactionOut
from core.storage.models import (
    Channel,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
    MessageType,
    Notification,
    Role,
    User,
)
from core.storage.models.conversation import ActorType, ConversationEvent, EventKind
from core.storage.rows import AuditRow, ContactRow, ConversationRow, MessageRow
from sessions.events import Location


class View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IdentityOut(View):
    jid: str
    kind: str


class ContactOut(View):
    id: int
    name: str | None
    push_name: str | None
    phone: str | None
    email: str | None
    attributes: dict[str, Any]
    identities: list[IdentityOut] = Field(default_factory=list)
    display_name: str = Field(description="Name, else push name, else phone.")

    @classmethod
    def of(cls, contact: Contact | ContactRow) -> ContactOut:
        return cls(
            id=contact.id,
            name=contact.name,
            push_name=contact.push_name,
            phone=contact.phone,
            email=contact.email,
            attributes=contact.attributes,
            identities=[IdentityOut(jid=i.jid, kind=i.kind.value) for i in contact.identities],
            display_name=contact.name or contact.push_name or contact.phone or "?",
        )


class MessageOut(View):
    id: int
    conversation_id: int
    wa_message_id: str | None
    client_id: str | None
    direction: Direction
    author_type: ActorType
    author_user_id: int | None
    type: MessageType
    body: str
    media: dict[str, Any] | None
    quoted_wa_message_id: str | None
    reactions: dict[str, Any]
    status: MessageStatus
    error: str | None
    sent_at: datetime | None
    created_at: datetime
    edited_at: datetime | None
    revoked_at: datetime | None
    reaction_summary: list[ReactionOut] = Field(
        default_factory=list, description="`reactions` by emoji, with how many and who."
    )
    location: Location | None = Field(None, description="A location message's place.")
    contact_card: CardOut | None = Field(None, description="A contact card, read from its vCard.")
    unsupported: bool = Field(False, description="Something this version cannot show.")
    media_url: str | None = Field(
        None, description="Where its file can be fetched; none when there is no file to fetch."
    )

    @classmethod
    def of(cls, message: Message | MessageRow) -> MessageOut:
        out = cls.model_validate(message)
        kind, media = message.type, message.media
        out.reaction_summary = content.reactions_of(message.reactions)
        out.location = content.place_of(kind, media)
        out.contact_card = content.card_of(kind, media)
        out.unsupported = content.unsupported(kind, media)
        out.media_url = content.media_url(out.id, media)
        return out


CsatStatus = Literal["asked", "rated", "done", "declined"]


class ConversationOut(View):
    id: int
    channel_id: int
    contact_id: int
    department_id: int | None
    assignee_id: int | None
    status: ConversationStatus
    unread_count: int
    last_message_at: datetime
    last_message_preview: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    waiting_since: datetime | None = Field(description="Since when it waits in its queue.")
    csat_status: CsatStatus | None = Field(
        None, description="The satisfaction survey: asked, rated, done (with a comment), declined."
    )
    csat_rating: int | None = Field(None, description="The customer's rating, 1 to 5.")
    csat_comment: str | None = Field(None, description="What the customer added after rating.")
    snoozed_until: datetime | None = Field(
        None, description="Pending until then; then open again for its attendant."
    )
    sla_due_at: datetime | None = Field(
        None, description="SLA: when the answer the customer waits for is due (none: no clock)."
    )
    sla_kind: Literal["first", "next"] | None = Field(
        None, description="Which target the clock counts (or counted last)."
    )
    sla_state: Literal["running", "at_risk", "breached"] | None = Field(
        None, description="running, at_risk (a quarter of the target left) or breached."
    )
    contact: ContactOut | None = None
    tag_ids: list[int] = Field(
        default_factory=list, description="The tags it carries (`GET /tags` names them)."
    )

    @classmethod
    def of(
        cls,
        conversation: Conversation | ConversationRow,
        contact: Contact | ContactRow | None = None,
        tag_ids: list[int] | None = None,
    ) -> ConversationOut:
        out = cls.model_validate(conversation)
        if contact is not None:
            out.contact = ContactOut.of(contact)
        out.tag_ids = tag_ids or []
        return out


class AuditOut(View):
    """One transition of a conversation, as the timeline shows it."""

    id: int
    conversation_id: int
    kind: EventKind
    actor_type: ActorType
    actor_user_id: int | None
    from_status: ConversationStatus | None
    to_status: ConversationStatus | None
    from_department_id: int | None
    to_department_id: int | None
    from_assignee_id: int | None
    to_assignee_id: int | None
    reason: str | None
    note: str | None
    data: dict[str, Any] = Field(
        default_factory=dict, description="What else the line says (a rating: `rating`)."
    )
    created_at: datetime

    @classmethod
    def of(cls, event: ConversationEvent | AuditRow) -> AuditOut:
        return cls.model_validate(event)


class ChannelOut(View):
    id: int
    session_id: str
    name: str
    phone: str | None
    jid: str | None
    status: str
    status_reason: str | None
    status_at: datetime | None
    department_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, channel: Channel) -> ChannelOut:
        return cls.model_validate(channel)


class NotificationOut(View):
    """One line of a person's bell."""

    id: int
    kind: str = Field(description="assigned, transferred, mentioned, sla_at_risk or sla_breached.")
    conversation_id: int | None
    actor_user_id: int | None = Field(description="Who did it (none for the system).")
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="What else it says: the customer's `contact_name`; a mention, the note's "
        "`excerpt`; an SLA, `due_at`.",
    )
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, notification: Notification) -> NotificationOut:
        return cls.model_validate(notification)


class UserOut(View):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    department_ids: list[int] = Field(default_factory=list)

    @classmethod
    def of(cls, user: User, department_ids: list[int] | None = None) -> UserOut:
        out = cls.model_validate(user)
        out.department_ids = sorted(department_ids or [])
        return out
