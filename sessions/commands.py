"""Commands, core → gateway (and supervisor → session host): what to do on WhatsApp.

Sends carry a ``client_id`` chosen by core: the gateway answers the same ``SendResult`` for a
repeated ``client_id``, so a retried request never sends twice.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter, model_validator

from sessions.events import Model, PresenceState


class QuotedRef(Model):
    """The message a reply quotes."""

    wa_id: str
    sender: str = Field(description="JID of the quoted message's author.")
    from_me: bool = False
    text: str | None = Field(None, description="Its text, shown inside the reply bubble.")


class OutgoingMediaKind(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VOICE = "voice"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"


class OutgoingMedia(Model):
    kind: OutgoingMediaKind
    mime: str
    filename: str | None = None
    caption: str | None = None
    duration_s: int | None = Field(None, description="For voice notes and audio.")
    url: str | None = Field(None, description="Where the gateway fetches the file from.")
    data_b64: str | None = Field(None, description="Or the file itself, base64 (small files).")

    @model_validator(mode="after")
    def _one_source(self) -> OutgoingMedia:
        if (self.url is None) == (self.data_b64 is None):
            raise ValueError("give exactly one of url and data_b64")
        return self


class SendText(Model):
    type: Literal["send.text"] = "send.text"
    client_id: str = Field(min_length=1, max_length=64)
    to: str = Field(description="JID of the chat.")
    text: str = Field(min_length=1, max_length=65536)
    quoted: QuotedRef | None = None


class SendMedia(Model):
    type: Literal["send.media"] = "send.media"
    client_id: str = Field(min_length=1, max_length=64)
    to: str
    media: OutgoingMedia
    quoted: QuotedRef | None = None


class SendReaction(Model):
    type: Literal["send.reaction"] = "send.reaction"
    client_id: str = Field(min_length=1, max_length=64)
    to: str
    wa_id: str = Field(description="The message reacted to.")
    sender: str = Field(description="JID of that message's author.")
    from_me: bool = False
    emoji: str = Field(description="Empty removes the reaction.")


SendCommand = Annotated[SendText | SendMedia | SendReaction, Field(discriminator="type")]
SEND: TypeAdapter[SendCommand] = TypeAdapter(SendCommand)


class SendResult(Model):
    client_id: str
    status: Literal["sent", "failed"]
    wa_id: str | None = None
    at: AwareDatetime | None = None
    error: str | None = None


class MarkRead(Model):
    type: Literal["read"] = "read"
    chat: str
    wa_ids: list[str] = Field(min_length=1)
    sender: str | None = Field(None, description="Author of the messages (needed in groups).")


class SetTyping(Model):
    type: Literal["typing"] = "typing"
    chat: str
    state: PresenceState


class SetPresence(Model):
    type: Literal["presence"] = "presence"
    available: bool


class RequestPairCode(Model):
    type: Literal["pair_code"] = "pair_code"
    phone: str = Field(pattern=r"^[1-9][0-9]{7,14}$", description="International, digits only.")


class Logout(Model):
    type: Literal["logout"] = "logout"


Command = Annotated[
    SendText
    | SendMedia
    | SendReaction
    | MarkRead
    | SetTyping
    | SetPresence
    | RequestPairCode
    | Logout,
    Field(discriminator="type"),
]
COMMAND: TypeAdapter[Command] = TypeAdapter(Command)
