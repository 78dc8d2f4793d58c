"""Requests a linked device sends to the service, validated (see ``protocol`` for the whole
protocol). Stream items going the other way are plain dicts: they are the hot path."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sessions.events import PresenceState


class Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Hello(Frame):
    type: Literal["hello"]
    device_id: str | None = None
    token: str | None = None
    last_seq: int = Field(0, ge=0)


class Ack(Frame):
    type: Literal["ack"]
    seq: int = Field(ge=0)


class PairCodeRequest(Frame):
    type: Literal["pair_code"]
    id: int
    phone: str = Field(pattern=r"^[1-9][0-9]{7,14}$")


class OutgoingFile(Frame):
    mime: str = Field(min_length=1, max_length=255)
    filename: str | None = Field(None, max_length=255)
    caption: str | None = None
    duration_s: int | None = None
    data_b64: str


class QuotedMessage(Frame):
    wa_id: str


class Reaction(Frame):
    wa_id: str
    emoji: str = Field(max_length=32)


class SendRequest(Frame):
    type: Literal["send"]
    id: int
    client_id: str = Field(min_length=1, max_length=64)
    to: str
    kind: Literal["text", "image", "audio", "voice", "video", "document", "sticker", "reaction"]
    text: str = ""
    media: OutgoingFile | None = None
    quoted: QuotedMessage | None = None
    reaction: Reaction | None = None


class ReadRequest(Frame):
    type: Literal["read"]
    id: int
    chat: str
    wa_ids: list[str] = Field(min_length=1)


class TypingRequest(Frame):
    type: Literal["typing"]
    id: int
    chat: str
    state: PresenceState


class PresenceRequest(Frame):
    type: Literal["presence"]
    id: int
    available: bool


class LogoutRequest(Frame):
    type: Literal["logout"]
    id: int


Request = Annotated[
    Ack
    | PairCodeRequest
    | SendRequest
    | ReadRequest
    | TypingRequest
    | PresenceRequest
    | LogoutRequest,
    Field(discriminator="type"),
]
REQUEST: TypeAdapter[Request] = TypeAdapter(Request)
