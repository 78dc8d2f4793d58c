"""What WhatsApp tells a neonize session becomes the contract's events.

Every event here is one of neonize's own protobufs, serialized and pushed through neonize's own
dispatch path (``Event.execute`` from a foreign thread, as Go does) into a running session of
the real driver; only neonize's Go backend is a fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from sessions.drivers.neonize_driver import NeonizeDriver, NeonizeSession
from sessions.events import (
    ChatPresenceEvent,
    ContactUpdatedEvent,
    MessageEditedEvent,
    MessageKind,
    MessageReactionEvent,
    MessageReceivedEvent,
    MessageRevokedEvent,
    MessageSentEvent,
    MessageStatusEvent,
    SessionStatusEvent,
)
from sessions.states import Reason, SessionState
from tests.neonize_kit import (
    CUSTOMER_LID,
    CUSTOMER_PN,
    ME_LID,
    ME_PN,
    T0_S,
    C,
    E,
    Emitted,
    FakeClients,
    N,
    device,
    jid,
    message_event,
    nz_events,
    push,
    source,
)

CUSTOMER = f"{CUSTOMER_PN}@s.whatsapp.net"
CUSTOMER_AT_LID = f"{CUSTOMER_LID}@lid"
T0 = datetime.fromtimestamp(T0_S, UTC)


@pytest.fixture(autouse=True)
def neonize_loop() -> None:
    """neonize dispatches to the first loop that ever connected; each test has its own."""
    nz_events.event_global_loop = None


@dataclass
class Live:
    session: NeonizeSession
    client: Any
    emitted: Emitted
    clients: FakeClients


async def live_session(store: Path) -> AsyncIterator[Live]:
    clients = FakeClients()
    driver = NeonizeDriver(new_client=clients, connect_grace_s=0, stop_timeout_s=1)
    await driver.open(2)
    emitted = Emitted()
    session = driver.session("s1", store, emitted)
    await session.start()
    await clients.running()
    yield Live(session, clients.client, emitted, clients)
    await session.stop()
    await driver.close()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async for running in live_session(tmp_path / "s1.db"):
        yield running


async def received(live: Live, event: Any) -> Any:
    await push(live.client, event)
    return await live.emitted.until(lambda e: isinstance(e, MessageReceivedEvent))


# Session lifecycle, as WhatsApp reports it.


async def test_pairing_then_connected_reports_the_linked_number(live: Live) -> None:
    paired = nz_events.PairStatusEv(
        ID=jid(ME_PN, device=7),
        Status=nz_events.PairStatusEv.SUCCESS,
        Platform="android",
        BusinessName="",
    )
    await push(live.client, paired, device(), nz_events.ConnectedEv(status=True))
    connected = await live.emitted.status(SessionState.CONNECTED)

    pairing = live.emitted.statuses()[1]
    assert (pairing.state, pairing.reason) == (SessionState.PAIRING, Reason.PAIRED)
    assert (pairing.jid, pairing.phone) == (f"{ME_PN}@s.whatsapp.net", ME_PN)
    assert connected.reason is Reason.PAIRED
    assert (connected.jid, connected.phone, connected.name) == (
        f"{ME_PN}@s.whatsapp.net",
        ME_PN,
        "Acme Support",
    )
    assert connected.detail == "Connected to WhatsApp."


async def test_a_restored_session_connects_without_qr(tmp_path: Path) -> None:
    store = tmp_path / "restored.db"
    store.write_bytes(b"")  # credentials from an earlier run
    async for live in live_session(store):
        await push(live.client, device(), nz_events.ConnectedEv(status=True))
        connected = await live.emitted.status(SessionState.CONNECTED)
        starting = live.emitted.statuses()[0]
        assert (starting.state, starting.reason) == (SessionState.STARTING, Reason.RESTORED)
        assert connected.reason is Reason.RESTORED


@pytest.mark.parametrize(
    ("lost", "found"),
    [
        (nz_events.DisconnectedEv(status=True), nz_events.ConnectedEv(status=True)),
        (
            nz_events.KeepAliveTimeoutEv(ErrorCount=2, LastSuccess=T0_S),
            nz_events.KeepAliveRestoredEv(),
        ),
    ],
    ids=["disconnected", "keepalive"],
)
async def test_a_lost_connection_reports_reconnecting_then_connected(
    live: Live, lost: Any, found: Any
) -> None:
    await push(live.client, device(), nz_events.ConnectedEv(status=True))
    await live.emitted.status(SessionState.CONNECTED)
    await push(live.client, lost, lost, found)
    await live.emitted.until(
        lambda e: (
            isinstance(e, SessionStatusEvent)
            and e.data.state is SessionState.CONNECTED
            and e.data.reason is Reason.ONLINE
        )
    )
    states = [(s.state, s.reason) for s in live.emitted.statuses()[-2:]]
    assert states == [
        (SessionState.RECONNECTING, Reason.NETWORK),  # said once, though it happened twice
        (SessionState.CONNECTED, Reason.ONLINE),
    ]
    assert live.emitted.statuses()[-2].retry_in_s is None  # whatsmeow reconnects on its own


@pytest.mark.parametrize(
    ("event", "state", "reason"),
    [
        (
            nz_events.LoggedOutEv(OnConnect=False, Reason=N.ConnectFailureReason.LOGGED_OUT),
            SessionState.LOGGED_OUT,
            Reason.UNLINKED,
        ),
        (nz_events.StreamReplacedEv(), SessionState.REPLACED, Reason.OTHER_CLIENT),
        (
            nz_events.TemporaryBanEv(
                Code=nz_events.TemporaryBanEv.SENT_TOO_MANY_SAME_MESSAGE, Expire=3600
            ),
            SessionState.BANNED,
            Reason.TEMPORARY_BAN,
        ),
        (nz_events.ClientOutdatedEv(), SessionState.OUTDATED, Reason.CLIENT_OUTDATED),
    ],
    ids=["logged_out", "stream_replaced", "temporary_ban", "client_outdated"],
)
async def test_terminal_events_stop_the_session_for_good(
    live: Live, event: Any, state: SessionState, reason: Reason
) -> None:
    live.session.store.write_bytes(b"credentials")
    await push(live.client, event)
    data = await live.emitted.status(state)
    await live.session.stop()  # returns at once: the session already ended

    assert data.reason is reason
    assert live.emitted.statuses()[-1] == data  # said once, and nothing after it
    assert live.clients.go.names()[-1] == "Stop"
    assert len(live.clients.made) == 1  # no reconnect attempt
    if state is SessionState.BANNED:
        assert data.detail.endswith("It ends in about 60 min.")
    # whatsmeow deletes the device on logout; the local store goes with it.
    assert live.session.store.exists() is (state is not SessionState.LOGGED_OUT)


# Messages.


def image() -> E.ImageMessage:
    return E.ImageMessage(
        caption="the invoice",
        mimetype="image/jpeg",
        fileLength=12345,
        width=640,
        height=480,
        fileSHA256=b"\xab" * 32,
        directPath="/v/t62.7118-24/abc",
    )


@pytest.mark.parametrize(
    ("message", "kind", "text", "media"),
    [
        (E.Message(conversation="hello"), MessageKind.TEXT, "hello", None),
        (
            E.Message(extendedTextMessage=E.ExtendedTextMessage(text="see https://example.com")),
            MessageKind.TEXT,
            "see https://example.com",
            None,
        ),
        (
            E.Message(imageMessage=image()),
            MessageKind.IMAGE,
            "the invoice",
            {"mime": "image/jpeg", "size": 12345, "width": 640, "height": 480, "sha256": "ab" * 32},
        ),
        (
            E.Message(
                audioMessage=E.AudioMessage(mimetype="audio/mpeg", seconds=61, fileLength=900)
            ),
            MessageKind.AUDIO,
            "",
            {"mime": "audio/mpeg", "duration_s": 61, "size": 900},
        ),
        (
            E.Message(
                audioMessage=E.AudioMessage(mimetype="audio/ogg; codecs=opus", seconds=7, PTT=True)
            ),
            MessageKind.VOICE,
            "",
            {"mime": "audio/ogg; codecs=opus", "duration_s": 7},
        ),
        (
            E.Message(
                videoMessage=E.VideoMessage(mimetype="video/mp4", seconds=12, caption="look")
            ),
            MessageKind.VIDEO,
            "look",
            {"mime": "video/mp4", "duration_s": 12},
        ),
        (
            E.Message(
                documentMessage=E.DocumentMessage(
                    mimetype="application/pdf", fileName="invoice.pdf", caption="March"
                )
            ),
            MessageKind.DOCUMENT,
            "March",
            {"mime": "application/pdf", "filename": "invoice.pdf"},
        ),
        (
            E.Message(
                stickerMessage=E.StickerMessage(mimetype="image/webp", width=512, height=512)
            ),
            MessageKind.STICKER,
            "",
            {"mime": "image/webp", "width": 512, "height": 512},
        ),
    ],
    ids=[
        "conversation",
        "extended_text",
        "image",
        "audio",
        "voice_note",
        "video",
        "document",
        "sticker",
    ],
)
async def test_a_customer_message_is_received(
    live: Live, message: Any, kind: MessageKind, text: str, media: dict[str, Any] | None
) -> None:
    event = await received(live, message_event(message))
    data = event.data

    assert event.session_id == "s1"
    assert (data.wa_id, data.kind, data.text, data.from_me, data.is_group) == (
        "3EB0C0FFEE000001",
        kind,
        text,
        False,
        False,
    )
    # Info.Timestamp is milliseconds.
    assert data.timestamp == datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)
    assert data.chat.jid == CUSTOMER
    assert (data.sender.jid, data.sender.name) == (CUSTOMER, "Alice")  # ":3" device dropped
    if media is None:
        assert data.media is None
    else:
        assert data.media is not None
        assert data.media.model_dump(exclude_none=True) == media


async def test_a_location_is_received(live: Live) -> None:
    place = E.LocationMessage(
        degreesLatitude=-23.5505, degreesLongitude=-46.6333, name="Loja Centro", address="Rua A, 1"
    )
    data = (await received(live, message_event(E.Message(locationMessage=place)))).data
    assert data.kind is MessageKind.LOCATION
    assert data.location is not None
    assert (data.location.latitude, data.location.longitude) == (-23.5505, -46.6333)
    assert (data.location.name, data.location.address) == ("Loja Centro", "Rua A, 1")


async def test_a_contact_card_is_received(live: Live) -> None:
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nTEL:+5511977776666\nEND:VCARD"
    card = E.ContactMessage(displayName="Bob", vcard=vcard)
    data = (await received(live, message_event(E.Message(contactMessage=card)))).data
    assert data.kind is MessageKind.CONTACT_CARD
    assert data.contact_card is not None
    assert (data.contact_card.display_name, data.contact_card.vcard) == ("Bob", vcard)


async def test_both_identities_are_kept_and_the_pair_announced_once(live: Live) -> None:
    src = source(
        jid(CUSTOMER_LID, "lid"),
        jid(CUSTOMER_LID, "lid", device=2),
        sender_alt=jid(CUSTOMER_PN),
    )
    await push(
        live.client,
        message_event(E.Message(conversation="one"), wa_id="A1", src=src),
        message_event(E.Message(conversation="two"), wa_id="A2", src=src),
    )
    await live.emitted.until(lambda e: isinstance(e, MessageReceivedEvent) and e.data.wa_id == "A2")
    kinds = [type(e) for e in live.emitted if not isinstance(e, SessionStatusEvent)]
    assert kinds == [ContactUpdatedEvent, MessageReceivedEvent, MessageReceivedEvent]

    contact = live.emitted.of(ContactUpdatedEvent)[0].data.peer
    assert (contact.jid, contact.pn, contact.lid, contact.name) == (
        CUSTOMER,
        CUSTOMER,
        CUSTOMER_AT_LID,
        "Alice",
    )
    message = live.emitted.of(MessageReceivedEvent)[0].data
    assert (message.chat.jid, message.chat.pn, message.chat.lid) == (
        CUSTOMER_AT_LID,
        CUSTOMER,
        CUSTOMER_AT_LID,
    )
    assert (message.sender.jid, message.sender.pn, message.sender.lid) == (
        CUSTOMER_AT_LID,
        CUSTOMER,
        CUSTOMER_AT_LID,
    )


async def test_a_reply_carries_the_quoted_message(live: Live) -> None:
    quoting = E.ExtendedTextMessage(
        text="yes, this one",
        contextInfo=E.ContextInfo(
            stanzaID="3EB0ORIGINAL",
            participant=f"{ME_PN}:7@s.whatsapp.net",
            quotedMessage=E.Message(conversation="Is this your order?"),
        ),
    )
    data = (await received(live, message_event(E.Message(extendedTextMessage=quoting)))).data
    assert data.text == "yes, this one"
    assert data.quoted is not None
    assert (data.quoted.wa_id, data.quoted.sender, data.quoted.text) == (
        "3EB0ORIGINAL",
        f"{ME_PN}@s.whatsapp.net",
        "Is this your order?",
    )


async def test_a_reaction_is_reported_against_its_message(live: Live) -> None:
    key = C.MessageKey(remoteJID=CUSTOMER, fromMe=True, ID="3EB0OURS")
    reaction = E.Message(reactionMessage=E.ReactionMessage(key=key, text="👍", senderTimestampMS=1))
    await push(live.client, message_event(reaction, wa_id="3EB0REACTION"))
    event = await live.emitted.until(lambda e: isinstance(e, MessageReactionEvent))
    data = event.data
    assert (data.wa_id, data.chat, data.emoji, data.from_me) == ("3EB0OURS", CUSTOMER, "👍", False)
    assert data.sender.jid == CUSTOMER
    assert not live.emitted.of(MessageReceivedEvent)


async def test_an_edit_is_reported_with_the_new_text(live: Live) -> None:
    edit = E.ProtocolMessage(
        key=C.MessageKey(remoteJID=CUSTOMER, fromMe=True, ID="3EB0FIRST"),
        type=E.ProtocolMessage.MESSAGE_EDIT,
        editedMessage=E.Message(conversation="corrected text"),
        timestampMS=(T0_S + 30) * 1000,
    )
    await push(live.client, message_event(E.Message(protocolMessage=edit), wa_id="3EB0EDIT"))
    data = (await live.emitted.until(lambda e: isinstance(e, MessageEditedEvent))).data
    assert (data.wa_id, data.chat, data.text) == ("3EB0FIRST", CUSTOMER, "corrected text")
    assert data.edited_at == datetime.fromtimestamp(T0_S + 30, UTC)


async def test_a_revoke_is_reported(live: Live) -> None:
    revoke = E.ProtocolMessage(
        key=C.MessageKey(remoteJID=CUSTOMER, fromMe=True, ID="3EB0GONE"),
        type=E.ProtocolMessage.REVOKE,
    )
    await push(live.client, message_event(E.Message(protocolMessage=revoke), wa_id="3EB0REVOKE"))
    data = (await live.emitted.until(lambda e: isinstance(e, MessageRevokedEvent))).data
    # The customer deleted their own message: not one of ours.
    assert (data.wa_id, data.chat, data.from_me) == ("3EB0GONE", CUSTOMER, False)


async def test_a_message_typed_on_the_phone_is_reported_as_sent(live: Live) -> None:
    src = source(
        jid(CUSTOMER_LID, "lid"),
        jid(ME_PN, device=0),
        sender_alt=jid(ME_LID, "lid"),
        recipient_alt=jid(CUSTOMER_PN),
        from_me=True,
    )
    echo = message_event(E.Message(conversation="typed on the phone"), src=src, push_name="Acme")
    await push(live.client, echo)
    data = (await live.emitted.until(lambda e: isinstance(e, MessageSentEvent))).data
    assert (data.from_me, data.client_id, data.text) == (True, None, "typed on the phone")
    assert (data.chat.jid, data.chat.pn, data.chat.lid) == (
        CUSTOMER_AT_LID,
        CUSTOMER,
        CUSTOMER_AT_LID,
    )
    assert data.sender.pn == f"{ME_PN}@s.whatsapp.net"
    assert not live.emitted.of(MessageReceivedEvent)


async def test_a_group_message_is_marked_as_such(live: Live) -> None:
    group = jid("120363000000000001", "g.us")
    src = source(group, jid(CUSTOMER_PN, device=3), group=True)
    data = (await received(live, message_event(E.Message(conversation="hi all"), src=src))).data
    assert data.is_group is True
    assert data.chat.jid == "120363000000000001@g.us"
    assert (data.chat.pn, data.chat.lid) == (None, None)
    assert data.sender.jid == CUSTOMER


async def test_status_stories_and_key_shares_are_not_messages(live: Live) -> None:
    story = source(jid("status", "broadcast"), jid(CUSTOMER_PN, device=3))
    await push(
        live.client,
        message_event(E.Message(conversation="my holiday"), src=story, wa_id="S1"),
        message_event(E.Message(senderKeyDistributionMessage={}), wa_id="K1"),
        message_event(E.Message(conversation="real"), wa_id="R1"),
    )
    event = await live.emitted.until(lambda e: isinstance(e, MessageReceivedEvent))
    assert event.data.wa_id == "R1"
    assert len(live.emitted.of(MessageReceivedEvent)) == 1


# Receipts and presence.


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (nz_events.ReceiptEv.DELIVERED, "delivered"),
        (nz_events.ReceiptEv.READ, "read"),
        (nz_events.ReceiptEv.PLAYED, "played"),
    ],
    ids=["delivered", "read", "played"],
)
async def test_a_receipt_updates_our_messages_status(live: Live, kind: int, status: str) -> None:
    receipt = nz_events.ReceiptEv(
        MessageSource=source(jid(CUSTOMER_PN), jid(CUSTOMER_PN, device=3)),
        MessageIDs=["3EB0A", "3EB0B"],
        Timestamp=T0_S + 5,  # seconds, unlike messages
        Type=kind,
    )
    own_devices = nz_events.ReceiptEv(
        MessageSource=source(jid(CUSTOMER_PN), jid(ME_PN, device=0), from_me=True),
        MessageIDs=["3EB0C"],
        Timestamp=T0_S,
        Type=nz_events.ReceiptEv.READ_SELF,
    )
    await push(live.client, own_devices, receipt)
    data = (await live.emitted.until(lambda e: isinstance(e, MessageStatusEvent))).data
    assert (data.wa_ids, data.chat, data.status.value) == (["3EB0A", "3EB0B"], CUSTOMER, status)
    assert data.at == datetime.fromtimestamp(T0_S + 5, UTC)
    assert len(live.emitted.of(MessageStatusEvent)) == 1  # read-self is the phone, not the customer


@pytest.mark.parametrize(
    ("state", "media", "expected"),
    [
        (nz_events.ChatPresenceEv.COMPOSING, nz_events.ChatPresenceEv.TEXT, "typing"),
        (nz_events.ChatPresenceEv.COMPOSING, nz_events.ChatPresenceEv.AUDIO, "recording"),
        (nz_events.ChatPresenceEv.PAUSED, nz_events.ChatPresenceEv.TEXT, "paused"),
    ],
    ids=["typing", "recording", "paused"],
)
async def test_chat_presence_shows_typing(
    live: Live, state: int, media: int, expected: str
) -> None:
    presence = nz_events.ChatPresenceEv(
        MessageSource=source(jid(CUSTOMER_PN), jid(CUSTOMER_PN, device=3)), State=state, Media=media
    )
    await push(live.client, presence)
    data = (await live.emitted.until(lambda e: isinstance(e, ChatPresenceEvent))).data
    assert (data.chat, data.sender, data.state.value) == (CUSTOMER, CUSTOMER, expected)


# Failures inside handlers.


async def test_a_failing_handler_is_logged_with_the_session_id(tmp_path: Path) -> None:
    def refuse(event: Any) -> None:
        if isinstance(event, MessageReceivedEvent):
            raise RuntimeError("the host could not take it")
        emitted(event)

    emitted = Emitted()
    clients = FakeClients()
    with structlog.testing.capture_logs() as logs:
        driver = NeonizeDriver(new_client=clients, connect_grace_s=0, stop_timeout_s=1)
        await driver.open(1)
        session = driver.session("s-broken", tmp_path / "s.db", refuse)
        await session.start()
        await clients.running()
        await push(clients.client, message_event(E.Message(conversation="boom")))
        await push(clients.client, device(), nz_events.ConnectedEv(status=True))
        await emitted.status(SessionState.CONNECTED)  # the session carried on
        await session.stop()
        await driver.close()

    failures = [entry for entry in logs if entry["event"] == "neonize_handler_failed"]
    assert len(failures) == 1
    assert failures[0]["session_id"] == "s-broken"
    assert (failures[0]["handler"], failures[0]["event_type"]) == ("_on_message", "Message")
