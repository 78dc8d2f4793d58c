"""The gateway ⇄ core contract: every event and command type round-trips, bad input is refused
with a reason, ids sort by time, and the published JSON Schema is current."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from scripts.export_contract_schema import OUT, render, schemas
from sessions.commands import COMMAND, SEND, OutgoingMedia, SendText
from sessions.events import (
    EVENT,
    ChatPresenceEvent,
    ContactData,
    ContactUpdatedEvent,
    DeliveryStatus,
    EditedData,
    EventBatch,
    Location,
    MessageData,
    MessageEditedEvent,
    MessageKind,
    MessageReactionEvent,
    MessageReceivedEvent,
    MessageRevokedEvent,
    MessageSentEvent,
    MessageStatusData,
    MessageStatusEvent,
    PairCodeData,
    Peer,
    PresenceData,
    PresenceState,
    QRData,
    ReactionData,
    RevokedData,
    SessionPairCodeEvent,
    SessionQREvent,
    SessionStatusEvent,
    StatusData,
)
from sessions.ids import new_ulid
from sessions.states import TERMINAL, Reason, SessionState, describe

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ANA = Peer(jid="123456789012345@lid", pn="5511988887777@s.whatsapp.net", lid="123456789012345@lid")


def message(**changes: object) -> MessageData:
    values: dict[str, object] = {
        "wa_id": "3EB0C0FFEE",
        "chat": ANA,
        "sender": ANA,
        "from_me": False,
        "timestamp": NOW,
        "kind": MessageKind.LOCATION,
        "location": Location(latitude=-23.55, longitude=-46.63, name="Paulista"),
    }
    values.update(changes)
    return MessageData.model_validate(values)


EVERY_EVENT = [
    SessionStatusEvent(
        session_id="loja",
        data=StatusData(state=SessionState.CONNECTED, reason=Reason.ONLINE, detail="ok"),
    ),
    SessionQREvent(session_id="loja", data=QRData(code="2@abc", index=1, expires_at=NOW)),
    SessionPairCodeEvent(
        session_id="loja",
        data=PairCodeData(code="ABCD-EFGH", phone="5511999990000", expires_at=NOW),
    ),
    MessageReceivedEvent(session_id="loja", data=message()),
    MessageSentEvent(session_id="loja", data=message(from_me=True, client_id="c-1")),
    MessageStatusEvent(
        session_id="loja",
        data=MessageStatusData(wa_ids=["A"], chat=ANA.jid, status=DeliveryStatus.READ, at=NOW),
    ),
    MessageRevokedEvent(
        session_id="loja", data=RevokedData(wa_id="A", chat=ANA.jid, from_me=False)
    ),
    MessageEditedEvent(
        session_id="loja", data=EditedData(wa_id="A", chat=ANA.jid, text="novo", edited_at=NOW)
    ),
    MessageReactionEvent(
        session_id="loja",
        data=ReactionData(wa_id="A", chat=ANA.jid, sender=ANA, from_me=False, emoji="👍"),
    ),
    ChatPresenceEvent(
        session_id="loja",
        data=PresenceData(chat=ANA.jid, sender=ANA.jid, state=PresenceState.TYPING),
    ),
    ContactUpdatedEvent(session_id="loja", data=ContactData(peer=ANA)),
]


@pytest.mark.parametrize("event", EVERY_EVENT, ids=lambda e: e.type)
def test_every_event_type_round_trips_through_json(event: object) -> None:
    wire = event.model_dump_json()  # type: ignore[attr-defined]
    assert EVENT.validate_json(wire) == event
    assert json.loads(wire)["v"] == 1


def test_a_batch_carries_events_of_every_type() -> None:
    batch = EventBatch(events=EVERY_EVENT)
    assert EventBatch.model_validate_json(batch.model_dump_json()) == batch


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"type": "message.exploded"}, "does not match any of the expected tags"),
        ({"at": "2026-11-21T12:00:00"}, "timezone"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
        ({"session_id": ""}, "at least 1 character"),
        ({"v": 2}, "Input should be 1"),
    ],
)
def test_bad_events_are_refused_with_a_reason(change: dict[str, object], complaint: str) -> None:
    wire = {**json.loads(EVERY_EVENT[3].model_dump_json()), **change}
    with pytest.raises(ValidationError, match=complaint):
        EVENT.validate_python(wire)


def test_commands_are_told_apart_by_type() -> None:
    assert isinstance(
        SEND.validate_python({"type": "send.text", "client_id": "c", "to": "x", "text": "oi"}),
        SendText,
    )
    read = COMMAND.validate_python({"type": "read", "chat": ANA.jid, "wa_ids": ["A"]})
    assert read.type == "read"
    with pytest.raises(ValidationError, match="pattern"):
        COMMAND.validate_python({"type": "pair_code", "phone": "+55 11 9999"})
    with pytest.raises(ValidationError, match="exactly one of url and data_b64"):
        OutgoingMedia(kind="image", mime="image/png")
    with pytest.raises(ValidationError, match="exactly one of url and data_b64"):
        OutgoingMedia(kind="image", mime="image/png", url="http://x/y.png", data_b64="AA==")


def test_ulids_are_unique_and_sort_by_creation() -> None:
    ids = [new_ulid() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 26 for i in ids)


def test_every_state_has_a_sentence_and_the_terminal_ones_are_named() -> None:
    for state in SessionState:
        assert describe(state).endswith(".")
    assert describe(SessionState.STOPPED, Reason.QR_EXPIRED).startswith("The QR code expired")
    assert {SessionState.LOGGED_OUT, SessionState.BANNED} <= TERMINAL
    assert SessionState.RECONNECTING not in TERMINAL


def test_the_published_json_schema_is_current() -> None:
    for name, schema in schemas().items():
        published = (OUT / name).read_text()
        assert published == render(schema), (
            f"docs/contract/{name} is out of date: run scripts/export_contract_schema.py"
        )


def test_timestamps_keep_their_instant() -> None:
    local = datetime(2026, 11, 21, 9, 0, tzinfo=UTC) - timedelta(hours=3)
    event = MessageReceivedEvent(session_id="s", at=local, data=message())
    assert EVENT.validate_json(event.model_dump_json()).at == local
