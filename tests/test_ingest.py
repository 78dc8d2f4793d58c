"""Core's event ingest, POST /internal/events: what the gateway's signed batches do to contacts,
channels, conversations and messages, and what the desk is told afterwards. On SQLite and on
PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from core import keys
from core.app import create_app
from core.desk.presence import PRESENCE_KEEPER
from core.realtime.bus import Audience, Notice, Subscription
from core.settings import InboxSettings
from core.storage.models import (
    ActorType,
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    EventKind,
    Job,
    Message,
    MessageStatus,
    MessageType,
)
from sessions.events import (
    ChatPresenceEvent,
    ContactData,
    ContactUpdatedEvent,
    DeliveryStatus,
    EditedData,
    Event,
    EventBatch,
    Media,
    MessageData,
    MessageEditedEvent,
    MessageKind,
    MessageReactionEvent,
    MessageReceivedEvent,
    MessageRevokedEvent,
    MessageSentEvent,
    MessageStatusData,
    MessageStatusEvent,
    Peer,
    PresenceData,
    PresenceState,
    QRData,
    ReactionData,
    RevokedData,
    SessionQREvent,
    SessionStatusEvent,
    StatusData,
)
from sessions.signing import HEADER, sign
from sessions.states import Reason, SessionState
from tests.conftest import WEBHOOK_SECRET, Desk, make_settings

SESSION = "loja-centro"
PN = "5511988887777@s.whatsapp.net"
LID = "123456789012345@lid"
OURS = Peer(jid="5511999990000@s.whatsapp.net", pn="5511999990000@s.whatsapp.net")
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


# Building events as the gateway sends them.


def maria(jid: str = PN, *, pn: str | None = PN, lid: str | None = None) -> Peer:
    return Peer(jid=jid, pn=pn, lid=lid, name="Maria")


def message_data(
    wa_id: str, text: str, peer: Peer, at: datetime, *, from_me: bool, **extra: Any
) -> MessageData:
    return MessageData(
        wa_id=wa_id,
        chat=peer,
        sender=OURS if from_me else peer,
        from_me=from_me,
        timestamp=at,
        kind=extra.pop("kind", MessageKind.TEXT),
        text=text,
        **extra,
    )


def received(
    wa_id: str,
    text: str = "Oi, tudo bem?",
    peer: Peer | None = None,
    at: datetime = T0,
    **extra: Any,
) -> MessageReceivedEvent:
    data = message_data(wa_id, text, peer or maria(), at, from_me=False, **extra)
    return MessageReceivedEvent(session_id=SESSION, data=data)


def sent(
    wa_id: str, text: str = "Olá!", peer: Peer | None = None, at: datetime = T0, **extra: Any
) -> MessageSentEvent:
    data = message_data(wa_id, text, peer or maria(), at, from_me=True, **extra)
    return MessageSentEvent(session_id=SESSION, data=data)


def status(wa_id: str, state: DeliveryStatus, **extra: Any) -> MessageStatusEvent:
    data = MessageStatusData(wa_ids=[wa_id], chat=PN, status=state, at=T0, **extra)
    return MessageStatusEvent(session_id=SESSION, data=data)


def linked(pn: str = PN, lid: str = LID) -> ContactUpdatedEvent:
    peer = Peer(jid=pn, pn=pn, lid=lid, name="Maria Souza")
    return ContactUpdatedEvent(session_id=SESSION, data=ContactData(peer=peer))


def session_status(state: SessionState, at: datetime, **extra: Any) -> SessionStatusEvent:
    data = StatusData(state=state, detail="", **extra)
    return SessionStatusEvent(session_id=SESSION, at=at, data=data)


def batch(*events: Event) -> bytes:
    return EventBatch(events=list(events)).model_dump_json().encode()


async def post(desk: Desk, *events: Event) -> dict[str, Any]:
    body = batch(*events)
    response = await desk.client.post("/internal/events", data=body, headers=desk.signed(body))
    answer: dict[str, Any] = await response.json()
    assert response.status == 200, answer
    return answer


# Reading what core stored.


async def rows(desk: Desk, model: Any) -> list[Any]:
    async with desk.app[keys.SESSIONS]() as db:
        return list(await db.scalars(select(model).order_by(model.id)))


async def change(desk: Desk, statement: Any) -> None:
    async with desk.app[keys.SESSIONS].begin() as db:
        await db.execute(statement)


class Feed:
    """Everything the bus carries from now on, as a test reads it."""

    def __init__(self, envelopes: Subscription) -> None:
        self._envelopes = envelopes

    async def next(self) -> Notice:
        async with asyncio.timeout(2):
            return (await anext(self._envelopes)).notice

    async def until(self, kind: str) -> list[Notice]:
        """The notices up to and including the first of ``kind``."""
        seen = [await self.next()]
        while seen[-1].type != kind:
            seen.append(await self.next())
        return seen

    def empty(self) -> bool:
        return self._envelopes.pending() == 0


@pytest.fixture
def feed(desk: Desk) -> Iterator[Feed]:
    with desk.app[keys.BUS].subscribe() as envelopes:
        yield Feed(envelopes)


# Delivery: signature, validation, idempotence.


async def test_the_same_batch_posted_three_times_stores_one_message(desk: Desk) -> None:
    events = (linked(), received("WA1"))
    assert await post(desk, *events) == {"accepted": 2, "duplicates": 0}
    assert await post(desk, *events) == {"accepted": 0, "duplicates": 2}
    assert await post(desk, *events) == {"accepted": 0, "duplicates": 2}

    [message] = await rows(desk, Message)
    assert (message.wa_message_id, message.body, message.direction) == (
        "WA1",
        "Oi, tudo bem?",
        Direction.INBOUND,
    )
    [conversation] = await rows(desk, Conversation)
    # No bot on the number: straight to the default department's queue.
    assert (conversation.status, conversation.department_id) == (ConversationStatus.QUEUED, 1)
    assert conversation.waiting_since is not None
    assert conversation.unread_count == 1
    [contact] = await rows(desk, Contact)
    assert (contact.push_name, contact.phone) == ("Maria", "5511988887777")
    [channel] = await rows(desk, Channel)
    assert (channel.session_id, channel.name) == (SESSION, SESSION)


async def test_a_message_delivered_again_under_a_new_event_id_is_a_duplicate(desk: Desk) -> None:
    first, again = received("WA1"), received("WA1")
    assert first.id != again.id
    assert await post(desk, first, again) == {"accepted": 1, "duplicates": 1}
    assert len(await rows(desk, Message)) == 1


async def test_a_batch_not_signed_by_the_gateway_is_refused_and_nothing_stored(
    desk: Desk,
) -> None:
    body = batch(received("WA1"))
    stale = sign(WEBHOOK_SECRET, body, now=time.time() - 301)
    for headers, reason in [
        ({HEADER: sign("another-secret", body)}, "does not match"),
        ({}, "missing"),
        ({HEADER: stale}, "too old"),
        ({HEADER: "v1=abc"}, "no valid timestamp"),
        ({HEADER: sign(WEBHOOK_SECRET, body + b" ")}, "does not match"),
    ]:
        response = await desk.client.post("/internal/events", data=body, headers=headers)
        assert response.status == 401, reason
        error = (await response.json())["error"]
        assert error["code"] == "bad_signature"
        assert reason in error["message"]
    assert await rows(desk, Message) == []
    assert await rows(desk, Channel) == []


async def test_a_malformed_event_refuses_the_whole_batch_naming_it(desk: Desk) -> None:
    good = batch(linked(), received("WA1"), received("WA2"))
    raw = good.replace(b'"wa_id":"WA2"', b'"wa_id":42')
    response = await desk.client.post("/internal/events", data=raw, headers=desk.signed(raw))
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["index"] == 2
    assert error["message"].startswith("Event 2 is not valid")
    assert any(e["field"].endswith("data.wa_id") for e in error["details"]["errors"])
    for model in (Message, Contact, Channel, Conversation):
        assert await rows(desk, model) == []


async def test_bad_input_gets_a_clear_error_never_a_500(desk: Desk) -> None:
    # A lone surrogate is not valid JSON text: only the second event carries one.
    bad_unicode = batch(received("WA1"), received("WA2", text="SURROGATE"))
    for body, status, where in [
        (b"not json", 400, None),
        (b'{"events": {}}', 422, None),
        (b'{"events": [{"type": "message.exploded"}]}', 422, 0),
        (batch(linked(), received("W" * 200)), 422, 1),
        (bad_unicode.replace(b"SURROGATE", b"\\ud800"), 422, 1),
    ]:
        response = await desk.client.post("/internal/events", data=body, headers=desk.signed(body))
        assert response.status == status, body
        error = (await response.json())["error"]
        assert error["code"] == ("bad_request" if status == 400 else "validation_error")
        assert error.get("details", {}).get("index") == where
    assert await rows(desk, Message) == []
    assert await rows(desk, Channel) == []


async def test_text_with_a_nul_character_is_stored_without_it(desk: Desk) -> None:
    await post(desk, received("WA1", text="a\x00b"))
    [message] = await rows(desk, Message)
    assert message.body == "ab"


# Contacts: one person, whichever identity WhatsApp uses.


async def test_phone_and_lid_messages_of_one_person_make_one_contact_and_conversation(
    desk: Desk,
) -> None:
    await post(desk, received("WA1", peer=maria(PN, pn=PN, lid=LID)))
    await post(desk, received("WA2", peer=maria(LID, pn=None, lid=LID)))
    [contact] = await rows(desk, Contact)
    assert sorted(i.jid for i in contact.identities) == sorted([PN, LID])
    [conversation] = await rows(desk, Conversation)
    assert [m.conversation_id for m in await rows(desk, Message)] == [conversation.id] * 2
    assert conversation.unread_count == 2


async def test_two_contacts_found_to_be_one_person_are_merged(desk: Desk) -> None:
    await post(desk, received("WA1", "pelo telefone", peer=maria(PN, pn=PN)))
    later = T0 + timedelta(minutes=1)
    await post(desk, received("WA2", "pelo lid", peer=maria(LID, pn=None, lid=LID), at=later))
    first, _ = await rows(desk, Contact)
    assert len(await rows(desk, Conversation)) == 2

    assert await post(desk, linked()) == {"accepted": 1, "duplicates": 0}
    [contact] = await rows(desk, Contact)
    assert contact.id == first.id
    assert sorted(i.jid for i in contact.identities) == sorted([PN, LID])
    assert contact.phone == "5511988887777"
    kept, closed = await rows(desk, Conversation)
    assert {kept.contact_id, closed.contact_id} == {contact.id}
    assert kept.status is ConversationStatus.QUEUED
    assert closed.status is ConversationStatus.CLOSED
    assert (kept.unread_count, kept.last_message_preview) == (2, "pelo lid")
    assert [m.conversation_id for m in await rows(desk, Message)] == [kept.id, kept.id]
    audit = [e for e in await rows(desk, ConversationEvent) if e.conversation_id == closed.id]
    assert audit[-1].kind is EventKind.STATUS_CHANGED
    assert audit[-1].data == {"merged_into": kept.id}

    # The link is known now: linking again changes nothing, and either identity finds her.
    assert await post(desk, linked()) == {"accepted": 0, "duplicates": 1}
    await post(desk, received("WA3", peer=maria(LID, pn=None, lid=LID)))
    assert len(await rows(desk, Contact)) == 1
    assert (await rows(desk, Message))[-1].conversation_id == kept.id


async def test_contacts_merged_within_one_batch(desk: Desk) -> None:
    answer = await post(
        desk,
        received("WA1", peer=maria(PN, pn=PN)),
        received("WA2", peer=maria(LID, pn=None, lid=LID)),
        linked(),
        received("WA3", peer=maria(LID, pn=None, lid=LID)),
    )
    assert answer == {"accepted": 4, "duplicates": 0}
    [contact] = await rows(desk, Contact)
    assert len(contact.identities) == 2
    [conversation] = await rows(desk, Conversation)
    assert conversation.unread_count == 3


# Messages and what happens to them.


async def test_receipts_advance_and_never_go_backwards(desk: Desk, feed: Feed) -> None:
    await post(desk, sent("OUT1"))
    [message] = await rows(desk, Message)
    assert message.status is MessageStatus.SENT

    await post(desk, status("OUT1", DeliveryStatus.DELIVERED))
    assert (await rows(desk, Message))[0].status is MessageStatus.DELIVERED
    await post(desk, status("OUT1", DeliveryStatus.READ))
    late = await post(desk, status("OUT1", DeliveryStatus.DELIVERED))
    failed = await post(desk, status("OUT1", DeliveryStatus.FAILED, error="no"))
    assert late == failed == {"accepted": 0, "duplicates": 1}
    assert (await rows(desk, Message))[0].status is MessageStatus.READ
    await post(desk, status("OUT1", DeliveryStatus.PLAYED))
    assert (await rows(desk, Message))[0].status is MessageStatus.PLAYED

    updates = [n for n in await feed.until("message.updated") if n.type == "message.updated"]
    assert updates[0].data["status"] == "delivered"


async def test_a_failed_send_records_why(desk: Desk) -> None:
    await post(desk, sent("OUT1"), status("OUT1", DeliveryStatus.FAILED, error="number blocked"))
    [message] = await rows(desk, Message)
    assert (message.status, message.error) == (MessageStatus.FAILED, "number blocked")


async def test_a_message_and_its_receipt_in_one_batch_apply_in_order(desk: Desk) -> None:
    answer = await post(
        desk,
        sent("OUT1"),
        status("OUT1", DeliveryStatus.READ),
        MessageEditedEvent(
            session_id=SESSION,
            data=EditedData(wa_id="OUT1", chat=PN, text="Olá de novo!", edited_at=T0),
        ),
    )
    assert answer == {"accepted": 3, "duplicates": 0}
    [message] = await rows(desk, Message)
    assert (message.status, message.body) == (MessageStatus.READ, "Olá de novo!")


async def test_edit_revoke_and_reactions(desk: Desk, feed: Feed) -> None:
    await post(desk, received("WA1", "Quero 2 pizzas"))
    edit = MessageEditedEvent(
        session_id=SESSION,
        data=EditedData(wa_id="WA1", chat=PN, text="Quero 3 pizzas", edited_at=T0 + timedelta(1)),
    )
    await post(desk, edit)
    [message] = await rows(desk, Message)
    assert (message.body, message.edited_at) == ("Quero 3 pizzas", T0 + timedelta(1))
    [conversation] = await rows(desk, Conversation)
    assert conversation.last_message_preview == "Quero 3 pizzas"
    assert await post(desk, edit) == {"accepted": 0, "duplicates": 1}

    def react(emoji: str, who: Peer = OURS) -> MessageReactionEvent:
        data = ReactionData(wa_id="WA1", chat=PN, sender=who, from_me=who is OURS, emoji=emoji)
        return MessageReactionEvent(session_id=SESSION, data=data)

    await post(desk, react("👍"), react("❤️", maria()))
    reactions = (await rows(desk, Message))[0].reactions
    assert reactions == {OURS.pn: "👍", PN: "❤️"}
    await post(desk, react(""))
    assert (await rows(desk, Message))[0].reactions == {PN: "❤️"}
    assert await post(desk, react("")) == {"accepted": 0, "duplicates": 1}

    revoke = MessageRevokedEvent(
        session_id=SESSION, data=RevokedData(wa_id="WA1", chat=PN, from_me=False)
    )
    await post(desk, revoke)
    [message] = await rows(desk, Message)
    assert message.revoked_at is not None
    assert (await rows(desk, Conversation))[0].last_message_preview == "🚫 Mensagem apagada"
    assert await post(desk, revoke) == {"accepted": 0, "duplicates": 1}

    # The first batch: the channel seen for the first time, the conversation, the message,
    # and the conversation's first timeline line.
    assert [n.type for n in await feed.until("conversation.event")] == [
        "session.updated",
        "conversation.created",
        "message.created",
        "conversation.event",
    ]
    edit_notices = await feed.until("conversation.updated")
    assert [n.type for n in edit_notices] == ["message.updated", "conversation.updated"]
    assert edit_notices[0].data["body"] == "Quero 3 pizzas"


async def test_the_echo_of_a_desk_message_is_matched_by_client_id(desk: Desk) -> None:
    await post(desk, received("WA1"))
    [conversation] = await rows(desk, Conversation)
    async with desk.app[keys.SESSIONS].begin() as db:
        db.add(
            Message(
                conversation_id=conversation.id,
                channel_id=conversation.channel_id,
                client_id="desk-0001",
                direction=Direction.OUTBOUND,
                author_type=ActorType.USER,
                body="Claro!",
                status=MessageStatus.PENDING,
            )
        )
    echo = sent("OUT1", "Claro!", client_id="desk-0001")
    assert await post(desk, echo, status("OUT1", DeliveryStatus.DELIVERED)) == {
        "accepted": 2,
        "duplicates": 0,
    }
    _, desk_message = await rows(desk, Message)
    assert (desk_message.client_id, desk_message.wa_message_id) == ("desk-0001", "OUT1")
    assert desk_message.status is MessageStatus.DELIVERED
    assert desk_message.author_type is ActorType.USER
    assert await post(desk, echo) == {"accepted": 0, "duplicates": 1}
    assert len(await rows(desk, Message)) == 2


async def test_a_message_typed_on_the_phone_is_stored_as_sent_by_the_business(
    desk: Desk,
) -> None:
    photo = Media(mime="image/jpeg", size=1234)
    await post(desk, sent("OUT1", "", kind=MessageKind.IMAGE, media=photo))
    [message] = await rows(desk, Message)
    assert (message.direction, message.author_type) == (Direction.OUTBOUND, ActorType.SYSTEM)
    assert (message.type, message.status) == (MessageType.IMAGE, MessageStatus.SENT)
    assert message.media == {"mime": "image/jpeg", "size": 1234}
    [conversation] = await rows(desk, Conversation)
    assert conversation.unread_count == 0
    assert conversation.last_message_preview == "📷 Foto"
    [created] = await rows(desk, ConversationEvent)
    assert (created.kind, created.actor_type) == (EventKind.CREATED, ActorType.SYSTEM)


async def test_a_photo_after_a_text_in_the_same_batch_keeps_its_media(desk: Desk) -> None:
    photo = Media(mime="image/jpeg", size=1234)
    await post(
        desk,
        received("IN1", "Bom dia"),
        received("IN2", "", kind=MessageKind.IMAGE, media=photo),
        received("IN3", "Segue a foto do pedido"),
    )
    stored = {m.wa_message_id: m for m in await rows(desk, Message)}
    assert stored["IN2"].media == {"mime": "image/jpeg", "size": 1234}
    assert [stored["IN1"].media, stored["IN3"].media] == [None, None]


async def test_group_messages_and_receipts_for_unknown_messages_are_accepted_and_ignored(
    desk: Desk,
) -> None:
    group = Peer(jid="120363000000000000@g.us")
    answer = await post(
        desk, received("G1", peer=group, is_group=True), status("NOPE", DeliveryStatus.READ)
    )
    assert answer == {"accepted": 2, "duplicates": 0}
    assert await rows(desk, Message) == []
    assert await rows(desk, Contact) == []


# The conversation lifecycle.


@pytest.fixture
async def short_window(aiohttp_client: Any, tmp_path: Path, database_url: str) -> Desk:
    """Core whose reopen window is one minute."""
    settings = make_settings(tmp_path, database_url, inbox=InboxSettings(reopen_window_s=60))
    return Desk(await aiohttp_client(create_app(settings)))


async def resolve_all(desk: Desk, at: datetime) -> None:
    await change(
        desk,
        update(Conversation).values(status=ConversationStatus.RESOLVED, resolved_at=at),
    )


async def test_a_message_after_resolution_reopens_within_the_window_else_starts_anew(
    short_window: Desk,
) -> None:
    desk = short_window
    await post(desk, received("WA1"))
    await resolve_all(desk, T0 + timedelta(minutes=5))

    await post(desk, received("WA2", at=T0 + timedelta(minutes=5, seconds=30)))
    [conversation] = await rows(desk, Conversation)
    assert conversation.status is ConversationStatus.QUEUED
    assert conversation.resolved_at is None
    reopened = (await rows(desk, ConversationEvent))[-1]
    assert (reopened.kind, reopened.actor_type) == (EventKind.STATUS_CHANGED, ActorType.CONTACT)
    assert (reopened.from_status, reopened.to_status) == (
        ConversationStatus.RESOLVED,
        ConversationStatus.QUEUED,
    )

    await resolve_all(desk, T0 + timedelta(minutes=10))
    await post(desk, received("WA3", at=T0 + timedelta(minutes=11, seconds=1)))
    old, new = await rows(desk, Conversation)
    assert (old.status, new.status) == (ConversationStatus.RESOLVED, ConversationStatus.QUEUED)
    assert [m.conversation_id for m in await rows(desk, Message)] == [old.id, old.id, new.id]
    assert new.unread_count == 1


async def reopen_for(desk: Desk, attendant: Any, minute: int) -> Conversation:
    """A resolved conversation of ``attendant`` that the customer writes to again."""
    await change(
        desk,
        update(Conversation).values(
            status=ConversationStatus.RESOLVED,
            resolved_at=T0,
            assignee_id=attendant.id,
            department_id=7,
        ),
    )
    await post(desk, received(f"WA{minute}", at=T0 + timedelta(minutes=minute)))
    [conversation] = await rows(desk, Conversation)
    return conversation


async def until_status(desk: Desk, status: ConversationStatus) -> Conversation:
    deadline = time.monotonic() + 10
    while True:
        [conversation] = await rows(desk, Conversation)
        if conversation.status is status or time.monotonic() > deadline:
            return conversation
        await asyncio.sleep(0.02)


async def test_a_reopened_conversation_goes_back_to_its_attendant_when_online(desk: Desk) -> None:
    attendant = await desk.user("attendant", departments=[7])
    await post(desk, received("WA1"))
    # Offline: it waits in the queue, never handed to someone who is not there.
    assert (await reopen_for(desk, attendant, 60)).status is ConversationStatus.QUEUED
    async with desk.app[keys.SESSIONS]() as db:
        assert (await db.scalar(select(Job).where(Job.kind == "assign.return"))) is not None
    await until_no_jobs(desk)
    [conversation] = await rows(desk, Conversation)
    assert (conversation.status, conversation.assignee_id) == (ConversationStatus.QUEUED, None)

    await desk.app[PRESENCE_KEEPER].store.beat([attendant.id], time.time())
    await reopen_for(desk, attendant, 120)
    conversation = await until_status(desk, ConversationStatus.OPEN)
    assert (conversation.status, conversation.assignee_id) == (
        ConversationStatus.OPEN,
        attendant.id,
    )
    last = (await rows(desk, ConversationEvent))[-1]
    assert (last.kind, last.actor_type, last.to_assignee_id) == (
        EventKind.ASSIGNED,
        ActorType.SYSTEM,
        attendant.id,
    )


async def until_no_jobs(desk: Desk) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        async with desk.app[keys.SESSIONS]() as db:
            if await db.scalar(select(Job.id).limit(1)) is None:
                return
        await asyncio.sleep(0.02)
    raise AssertionError("jobs still waiting")


# Sessions and what the desk is told.


async def test_the_session_state_is_recorded_on_the_channel(desk: Desk, feed: Feed) -> None:
    now = datetime.now(UTC)
    connected = session_status(
        SessionState.CONNECTED,
        now,
        reason=Reason.ONLINE,
        jid="5511999990000:7@s.whatsapp.net",
        phone="5511999990000",
    )
    await post(desk, connected)
    [channel] = await rows(desk, Channel)
    assert (channel.status, channel.status_reason, channel.phone) == (
        "connected",
        "online",
        "5511999990000",
    )
    assert channel.status_at == now
    [notice] = await feed.until("session.updated")
    assert (notice.topic, notice.data["status"]) == ("sessions", "connected")

    older = session_status(SessionState.RECONNECTING, now - timedelta(seconds=5))
    assert await post(desk, older) == {"accepted": 0, "duplicates": 1}
    assert (await rows(desk, Channel))[0].status == "connected"


async def test_only_the_newest_qr_code_is_announced(desk: Desk, feed: Feed) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=20)

    def qr(code: str, index: int) -> SessionQREvent:
        return SessionQREvent(
            session_id=SESSION, data=QRData(code=code, index=index, expires_at=soon)
        )

    await post(desk, qr("2@first", 1), qr("2@second", 2))
    notices = await feed.until("session.qr")
    assert notices[-1].data["code"] == "2@second"
    await post(desk, session_status(SessionState.QR, datetime.now(UTC)))
    assert [n.type for n in await feed.until("session.updated")] == ["session.updated"]


async def test_subscribers_hear_of_new_messages_after_the_answer_and_never_of_duplicates(
    desk: Desk, feed: Feed
) -> None:
    attendant = await desk.user("attendant", departments=[3])
    await post(desk, received("WA1"))
    await change(desk, update(Conversation).values(department_id=3, assignee_id=attendant.id))
    await post(desk, received("WA2", "Alguém aí?"))

    notices = await feed.until("message.created")
    notices += await feed.until("conversation.updated")
    created = [n for n in notices if n.type == "message.created"]
    assert [n.data["body"] for n in created] == ["Oi, tudo bem?", "Alguém aí?"]
    conversation_id = created[0].data["conversation_id"]
    assert created[0].topic == f"conversation:{conversation_id}"
    assert created[1].audience == Audience(department_id=3, assignee_id=attendant.id)
    update_notice = notices[-1]
    assert update_notice.topic == "inbox"
    assert update_notice.data["contact"]["display_name"] == "Maria"
    assert update_notice.data["unread_count"] == 2

    # Nothing for a duplicate: the next thing heard is what came after it.
    assert await post(desk, received("WA2", "Alguém aí?")) == {"accepted": 0, "duplicates": 1}
    await post(desk, session_status(SessionState.CONNECTED, datetime.now(UTC)))
    assert (await feed.next()).type == "session.updated"
    assert feed.empty()


async def test_typing_is_announced_on_the_conversation_and_not_stored(
    desk: Desk, feed: Feed
) -> None:
    await post(desk, received("WA1", peer=maria(PN, pn=PN, lid=LID)))
    [conversation] = await rows(desk, Conversation)
    await feed.until("conversation.created")

    def presence(state: PresenceState) -> ChatPresenceEvent:
        data = PresenceData(chat=LID, sender=LID, state=state)
        return ChatPresenceEvent(session_id=SESSION, data=data)

    await post(desk, presence(PresenceState.TYPING), presence(PresenceState.PAUSED))
    on = await feed.until("typing.on")
    off = await feed.next()
    assert (on[-1].topic, on[-1].data["state"]) == (f"conversation:{conversation.id}", "typing")
    assert off.type == "typing.off"
    assert len(await rows(desk, Message)) == 1
