"""The websocket protocol: what a client may send and the frames the server writes.

Server to client, JSON text frames:

* a notice: ``{"seq": 41, "topic": "conversation:7", "type": "message.created", "data":
  {...}}`` (``seq`` is the bus's number: increasing, shared by every replica; ``topic`` is the
  one the client follows that brought it);
* ``{"seq": 57, "type": "resync", "data": {}}``: what the client missed is no longer kept;
  reload from the REST API and carry on from ``seq``;
* ``{"id": 3, "type": "result", "ok": true}`` or ``{"id": 3, "type": "result", "ok": false,
  "error": {"code": "permission_denied", "message": "..."}}``: the answer to a client message,
  with the REST API's error codes. It comes after any frame the message caused.

Client to server: ``{"id", "type": "subscribe", "topics": [...]}``, ``{"id", "type":
"unsubscribe", "topics": [...]}``, ``{"id", "type": "resume", "seq": N}`` and ``{"id", "type":
"ping"}``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter
from pydantic_core import to_json

from core.realtime.bus import Envelope, data_json
from core.realtime.topics import CONVERSATION, FIXED_TOPICS
from zapdesk.errors import BadRequest, ValidationFailed, ZapdeskError
from zapdesk.web import validated

MessageId = int | Annotated[str, Field(max_length=64)] | None


class Subscribe(BaseModel):
    id: MessageId = None
    type: Literal["subscribe"]
    topics: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1)


class Unsubscribe(BaseModel):
    id: MessageId = None
    type: Literal["unsubscribe"]
    topics: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1)


class Resume(BaseModel):
    id: MessageId = None
    type: Literal["resume"]
    seq: int = Field(ge=0, description="The last seq the client received.")


class Ping(BaseModel):
    id: MessageId = None
    type: Literal["ping"]


ClientMessage = Annotated[Subscribe | Unsubscribe | Resume | Ping, Field(discriminator="type")]
CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


def parse_message(text: str) -> ClientMessage:
    """A client's text frame as a message; ``bad_request`` / ``validation_error`` otherwise."""
    try:
        raw: Any = json.loads(text)
    except ValueError:
        raise BadRequest("The message is not valid JSON.") from None
    return validated(CLIENT_MESSAGE, raw, where="message")


def message_id(text: str) -> int | str | None:
    """The ``id`` of a message that failed to parse, when there is one to answer to."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    given = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(given, int) or (isinstance(given, str) and len(given) <= 64):
        return given
    return None


def conversation_id(topic: str) -> int | None:
    """The id in ``conversation:<id>``, else None."""
    if not topic.startswith(CONVERSATION):
        return None
    number = topic.removeprefix(CONVERSATION)
    return int(number) if number.isdigit() and len(number) <= 18 else None


def check_topic(topic: str) -> None:
    if topic not in FIXED_TOPICS and conversation_id(topic) is None:
        raise ValidationFailed(
            f"Unknown topic {topic!r}: use inbox, sessions, presence, me or conversation:<id>.",
            details={"topic": topic},
        )


def notice_frame(envelope: Envelope) -> bytes:
    notice = envelope.notice
    return b'{"seq":%d,"topic":%s,"type":%s,"data":%s}' % (
        envelope.seq,
        to_json(notice.topic),
        to_json(notice.type),
        data_json(notice.data),
    )


def resync_frame(seq: int) -> bytes:
    return to_json({"seq": seq, "type": "resync", "data": {}})


def result_frame(message_id: int | str | None, error: ZapdeskError | None = None) -> bytes:
    if error is None:
        return to_json({"id": message_id, "type": "result", "ok": True})
    return to_json(
        {"id": message_id, "type": "result", "ok": False, "error": error.as_dict()["error"]}
    )
