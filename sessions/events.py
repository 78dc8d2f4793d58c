"""Events, gateway → core: what happened on WhatsApp, as the wire contract (version 1).

Every event is ``{v, id, type, session_id, at, data}``; ``type`` selects the shape of ``data``.
``id`` is a ULID chosen where the event is born, so redelivery never makes a second event.
Identities keep both forms WhatsApp uses: a phone-number JID and an ``@lid`` JID (``Peer``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from sessions.ids import new_ulid
from sessions.states import Reason, SessionState

CONTRACT_VERSION: Final = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Peer(Model):
    """A WhatsApp identity: the JID it was addressed by, plus both forms when known."""

    jid: str = Field(description="The JID as WhatsApp used it here (phone or @lid).")
    pn: str | None = Field(None, description="Phone-number JID, e.g. 5511988887777@s.whatsapp.net.")
    lid: str | None = Field(None, description="LID JID, e.g. 123456789012345@lid.")
    name: str | None = Field(None, description="Push name the person chose in WhatsApp.")


class MessageKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VOICE = "voice"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT_CARD = "contact_card"
    UNSUPPORTED = "unsupported"


class Media(Model):
    mime: str
    size: int | None = None
    filename: str | None = None
    sha256: str | None = Field(None, description="Hex SHA-256 of the plain file.")
    duration_s: int | None = None
    width: int | None = None
    height: int | None = None
    key: str | None = Field(
        None, description="Where the gateway keeps the downloaded file: GET /media/{key}."
    )


class Location(Model):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class ContactCard(Model):
    display_name: str
    vcard: str


class Quote(Model):
    wa_id: str
    sender: str | None = None
    text: str | None = None


class MessageData(Model):
    wa_id: str
    chat: Peer = Field(description="The conversation: for a one-to-one chat, the customer.")
    sender: Peer = Field(description="Who wrote it; our own number for messages sent by us.")
    from_me: bool
    is_group: bool = False
    timestamp: AwareDatetime
    kind: MessageKind
    text: str = Field("", description="The text, or the caption of media.")
    media: Media | None = None
    location: Location | None = None
    contact_card: ContactCard | None = None
    quoted: Quote | None = None
    client_id: str | None = Field(
        None,
        description="Set on message.sent when the desk sent it; absent when typed on the phone.",
    )


class StatusData(Model):
    state: SessionState
    reason: Reason | None = None
    detail: str = Field(description="A sentence for people.")
    jid: str | None = None
    phone: str | None = None
    name: str | None = None
    retry_in_s: float | None = Field(None, description="When reconnecting: seconds to next try.")


class QRData(Model):
    code: str = Field(description="The raw text to render as a QR code.")
    index: int = Field(description="1 for the first code of a login window, then 2, 3...")
    expires_at: AwareDatetime


class PairCodeData(Model):
    code: str = Field(description="Eight characters such as ABCD-EFGH, typed on the phone.")
    phone: str
    expires_at: AwareDatetime


class DeliveryStatus(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"


class MessageStatusData(Model):
    wa_ids: list[str]
    chat: str
    status: DeliveryStatus
    at: AwareDatetime
    client_id: str | None = None
    error: str | None = None


class RevokedData(Model):
    wa_id: str
    chat: str
    from_me: bool


class EditedData(Model):
    wa_id: str
    chat: str
    text: str
    edited_at: AwareDatetime


class ReactionData(Model):
    wa_id: str = Field(description="The message reacted to.")
    chat: str
    sender: Peer
    from_me: bool
    emoji: str = Field(description="Empty when the reaction was removed.")


class PresenceState(StrEnum):
    TYPING = "typing"
    RECORDING = "recording"
    PAUSED = "paused"


class PresenceData(Model):
    chat: str
    sender: str
    state: PresenceState


class ContactData(Model):
    peer: Peer


class _Event(Model):
    v: Literal[1] = CONTRACT_VERSION
    id: str = Field(default_factory=new_ulid, min_length=26, max_length=26)
    session_id: str = Field(min_length=1, max_length=64)
    at: AwareDatetime = Field(default_factory=utcnow)


class SessionStatusEvent(_Event):
    type: Literal["session.status"] = "session.status"
    data: StatusData


class SessionQREvent(_Event):
    type: Literal["session.qr"] = "session.qr"
    data: QRData


class SessionPairCodeEvent(_Event):
    type: Literal["session.pair_code"] = "session.pair_code"
    data: PairCodeData


class MessageReceivedEvent(_Event):
    type: Literal["message.received"] = "message.received"
    data: MessageData


class MessageSentEvent(_Event):
    type: Literal["message.sent"] = "message.sent"
    data: MessageData


class MessageStatusEvent(_Event):
    type: Literal["message.status"] = "message.status"
    data: MessageStatusData


class MessageRevokedEvent(_Event):
    type: Literal["message.revoked"] = "message.revoked"
    data: RevokedData


class MessageEditedEvent(_Event):
    type: Literal["message.edited"] = "message.edited"
    data: EditedData


class MessageReactionEvent(_Event):
    type: Literal["message.reaction"] = "message.reaction"
    data: ReactionData


class ChatPresenceEvent(_Event):
    type: Literal["chat.presence"] = "chat.presence"
    data: PresenceData


class ContactUpdatedEvent(_Event):
    type: Literal["contact.updated"] = "contact.updated"
    data: ContactData


Event = Annotated[
    SessionStatusEvent
    | SessionQREvent
    | SessionPairCodeEvent
    | MessageReceivedEvent
    | MessageSentEvent
    | MessageStatusEvent
    | MessageRevokedEvent
    | MessageEditedEvent
    | MessageReactionEvent
    | ChatPresenceEvent
    | ContactUpdatedEvent,
    Field(discriminator="type"),
]
EVENT: TypeAdapter[Event] = TypeAdapter(Event)


class EventBatch(Model):
    """The body of ``POST /internal/events``."""

    events: list[Event]
