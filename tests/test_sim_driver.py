"""The sim driver against the real simulated WhatsApp on loopback: linking, restoring,
messages both ways with receipts, typing, and recovery from drops, outages and latency."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from sessions.commands import MarkRead, OutgoingMedia, SendMedia, SendText, SetTyping
from sessions.drivers.base import DriverError
from sessions.drivers.sim import SimDriver, SimSession
from sessions.events import (
    ChatPresenceEvent,
    ContactUpdatedEvent,
    DeliveryStatus,
    Event,
    MessageKind,
    MessageReceivedEvent,
    MessageSentEvent,
    MessageStatusEvent,
    PresenceState,
    SessionQREvent,
    SessionStatusEvent,
)
from sessions.sim.demo import LINES, PEOPLE
from sessions.sim.protocol import lid_of
from sessions.sim.server import create_app
from sessions.states import Reason, SessionState

BUSINESS = "5511900000001"
EVEN = "5511988880002"  # addressed by phone JID
ODD = "5511988880003"  # addressed by @lid
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


class Recorder:
    """Collects what the driver emits, and waits for what a test expects."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, check: Callable[[Event], bool], within: float = 5) -> Event:
        async with asyncio.timeout(within):
            while True:
                for event in self.events:
                    if check(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

    async def status(
        self, state: SessionState, reason: Reason | None = None, within: float = 5
    ) -> SessionStatusEvent:
        def match(event: Event) -> bool:
            return (
                isinstance(event, SessionStatusEvent)
                and event.data.state is state
                and (reason is None or event.data.reason is reason)
            )

        found = await self.wait(match, within)
        assert isinstance(found, SessionStatusEvent)
        return found

    async def count(self, kind: type[Event], n: int, within: float = 5) -> list[Any]:
        async with asyncio.timeout(within):
            while len(found := self.of(kind)) < n:
                self._changed.clear()
                await self._changed.wait()
        return found

    def of(self, kind: type[Event]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    def statuses(self) -> list[tuple[SessionState, Reason | None]]:
        return [(e.data.state, e.data.reason) for e in self.of(SessionStatusEvent)]


@pytest.fixture
async def sim(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(
        create_app(qr_first_s=0.4, qr_next_s=0.15, qr_count=3)
    )
    return server


@pytest.fixture
async def phone(sim: TestServer) -> AsyncIterator[ClientSession]:
    async with ClientSession(base_url=sim.make_url("/")) as client:
        yield client


@pytest.fixture
async def driver(sim: TestServer) -> AsyncIterator[SimDriver]:
    driver = SimDriver(
        url=str(sim.make_url("/")), backoff_initial_s=0.05, backoff_max_s=2, request_timeout_s=5
    )
    await driver.open(capacity=4)
    yield driver
    await driver.close()


@pytest.fixture
async def sessions(driver: SimDriver) -> AsyncIterator[list[SimSession]]:
    started: list[SimSession] = []
    yield started
    for session in started:
        await session.stop()


@pytest.fixture
def new_session(
    driver: SimDriver, sessions: list[SimSession], tmp_path: Path
) -> Callable[..., tuple[SimSession, Recorder]]:
    def make(name: str = "s1", store: Path | None = None) -> tuple[SimSession, Recorder]:
        recorder = Recorder()
        session = driver.session(name, store or tmp_path / f"{name}.db", recorder)
        sessions.append(session)
        return session, recorder

    return make


async def post(client: ClientSession, path: str, body: dict[str, Any], status: int = 200) -> Any:
    async with client.post(path, json=body) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def get(client: ClientSession, path: str) -> Any:
    async with client.get(path) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def link(session: SimSession, recorder: Recorder, phone: ClientSession) -> None:
    """Scans the code on screen, as a person would: on a loaded machine the short test codes
    may rotate between showing and scanning, so a stale one is followed by the current one."""
    await session.start()
    for _ in range(5):
        await recorder.wait(lambda e: isinstance(e, SessionQREvent))
        code = recorder.of(SessionQREvent)[-1].data.code
        body = {"code": code, "name": "Loja"}
        async with phone.post(f"/phones/{BUSINESS}/scan", json=body) as response:
            if response.status == 200:
                break
            assert response.status == 404, await response.text()
        await recorder.count(SessionQREvent, len(recorder.of(SessionQREvent)) + 1)
    await recorder.status(SessionState.CONNECTED)


def no_repeats(recorder: Recorder) -> None:
    statuses = [e.data for e in recorder.of(SessionStatusEvent)]
    assert all(a != b for a, b in itertools.pairwise(statuses)), statuses


def journal_mode(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


# Linking.


async def test_qr_codes_rotate_then_the_window_closes(new_session: Callable[..., Any]) -> None:
    session, recorder = new_session()
    await session.start()
    await recorder.status(SessionState.STOPPED, Reason.QR_EXPIRED, within=3)
    codes = recorder.of(SessionQREvent)
    assert [code.data.index for code in codes] == [1, 2, 3]
    assert len({code.data.code for code in codes}) == 3
    first, second = codes[0].data.expires_at, codes[1].data.expires_at
    assert 0.05 < (second - first).total_seconds() < 0.4  # 0.15 s each after the first
    assert recorder.statuses() == [
        (SessionState.STARTING, Reason.NEW),
        (SessionState.QR, Reason.WAITING_FOR_SCAN),
        (SessionState.STOPPED, Reason.QR_EXPIRED),
    ]
    assert not session.store.exists()
    # It waits for a person: a new start opens a new window.
    await session.start()
    await recorder.wait(
        lambda e: isinstance(e, SessionQREvent) and e.data.index == 1 and e not in codes
    )


async def test_scanning_the_qr_links_the_number(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    connected = await recorder.status(SessionState.CONNECTED, Reason.PAIRED)
    assert connected.data.phone == BUSINESS
    assert connected.data.jid is not None
    assert connected.data.jid.startswith(BUSINESS + ":")
    assert connected.data.name == "Loja"
    assert [s for s, _ in recorder.statuses()] == [
        SessionState.STARTING,
        SessionState.QR,
        SessionState.PAIRING,
        SessionState.CONNECTED,
    ]
    assert journal_mode(session.store) == "wal"
    phones = await get(phone, "/phones")
    assert phones["phones"] == [{"phone": BUSINESS, "name": "Loja", "linked": True, "online": True}]


async def test_an_expired_qr_code_cannot_be_scanned(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await session.start()
    first = await recorder.wait(lambda e: isinstance(e, SessionQREvent))
    await recorder.wait(lambda e: isinstance(e, SessionQREvent) and e.data.index == 2)
    assert isinstance(first, SessionQREvent)
    await post(phone, f"/phones/{BUSINESS}/scan", {"code": first.data.code}, status=404)


async def test_a_pairing_code_links_the_number(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    with pytest.raises(DriverError, match="QR code is shown"):
        await session.pair_code(BUSINESS)
    await session.start()
    code = await session.pair_code(BUSINESS)  # waits for the login window to open
    assert len(code.code) == 9
    assert code.code[4] == "-"
    await recorder.status(SessionState.QR, Reason.PAIR_CODE_ISSUED)
    # Typed on another number's phone, it does nothing.
    await post(phone, "/phones/5511977770000/pair-code", {"code": code.code}, status=404)
    await post(phone, f"/phones/{BUSINESS}/pair-code", {"code": code.code.lower()})
    await recorder.status(SessionState.CONNECTED, Reason.PAIRED)
    with pytest.raises(DriverError):
        await session.pair_code(BUSINESS)
    no_repeats(recorder)


async def test_a_restart_with_the_same_store_connects_without_qr(
    new_session: Callable[..., Any], phone: ClientSession, tmp_path: Path
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    await session.stop()
    assert recorder.statuses()[-1] == (SessionState.STOPPED, Reason.REQUESTED)
    # The supervisor's way: a copy taken with SQLite's backup API restores the session.
    copy = tmp_path / "restored.db"
    with (
        contextlib.closing(sqlite3.connect(session.store)) as source,
        contextlib.closing(sqlite3.connect(copy)) as target,
    ):
        source.backup(target)
    for store in (session.store, copy):
        again, seen = new_session(name="s1", store=store)
        await again.start()
        connected = await seen.status(SessionState.CONNECTED)
        assert connected.data.reason is Reason.RESTORED
        assert connected.data.phone == BUSINESS
        assert seen.of(SessionQREvent) == []
        await again.stop()


async def test_unlinking_on_the_phone_logs_out_and_deletes_the_store(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    await post(phone, f"/phones/{BUSINESS}/unlink", {})
    await recorder.status(SessionState.LOGGED_OUT, Reason.UNLINKED)
    assert not session.store.exists()
    await asyncio.sleep(0.1)  # no reconnection after a logout
    assert recorder.statuses()[-1] == (SessionState.LOGGED_OUT, Reason.UNLINKED)
    no_repeats(recorder)


async def test_unlinked_while_stopped_is_logged_out_at_the_next_start(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    await session.stop()
    await post(phone, "/faults/logout", {"phone": BUSINESS})
    await session.start()
    await recorder.status(SessionState.LOGGED_OUT, Reason.UNLINKED)
    assert not session.store.exists()


async def test_logout_from_the_desk_unlinks_the_device(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    await session.logout()
    assert recorder.statuses()[-1] == (SessionState.LOGGED_OUT, Reason.REQUESTED)
    assert not session.store.exists()
    phones = await get(phone, "/phones")
    assert phones["phones"][0]["linked"] is False


async def test_logout_while_stopped_still_unlinks_the_device(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    await session.stop()
    await session.logout()
    assert recorder.statuses()[-2:] == [
        (SessionState.STOPPED, Reason.REQUESTED),
        (SessionState.LOGGED_OUT, Reason.REQUESTED),
    ]
    assert not session.store.exists()
    phones = await get(phone, "/phones")
    assert phones["phones"][0]["linked"] is False


# Messages.


async def test_customers_messages_arrive_with_both_identities(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    await post(
        phone,
        f"/customers/{EVEN}/messages",
        {"to": BUSINESS, "text": "Oi, tudo bem?", "name": "Ana"},
        status=201,
    )
    await post(
        phone,
        f"/customers/{EVEN}/messages",
        {"to": BUSINESS, "kind": "image", "mime": "image/png", "data_b64": PNG, "caption": "foto"},
        status=201,
    )
    await post(phone, f"/customers/{ODD}/messages", {"to": BUSINESS, "text": "Olá"}, status=201)
    text, image, by_lid = await recorder.count(MessageReceivedEvent, 3)

    assert text.data.text == "Oi, tudo bem?"
    assert text.data.kind is MessageKind.TEXT
    assert text.data.chat.jid == f"{EVEN}@s.whatsapp.net"
    assert text.data.chat.pn == f"{EVEN}@s.whatsapp.net"
    assert text.data.chat.lid == lid_of(EVEN)
    assert text.data.sender.name == "Ana"
    assert not text.data.from_me

    assert image.data.kind is MessageKind.IMAGE
    assert image.data.text == "foto"
    assert image.data.media is not None
    assert image.data.media.mime == "image/png"
    assert image.data.media.size == 72
    assert image.data.media.sha256 is not None

    assert by_lid.data.chat.jid == lid_of(ODD)
    assert by_lid.data.chat.lid == lid_of(ODD)
    assert by_lid.data.chat.pn == f"{ODD}@s.whatsapp.net"
    contacts = recorder.of(ContactUpdatedEvent)
    assert sorted(c.data.peer.lid for c in contacts) == sorted([lid_of(EVEN), lid_of(ODD)])
    # Once the device has them, the customer sees two ticks.
    view = await get(phone, f"/customers/{EVEN}/messages?to={BUSINESS}")
    await asyncio.sleep(0.05)
    view = await get(phone, f"/customers/{EVEN}/messages?to={BUSINESS}")
    assert [m["status"] for m in view["messages"]] == ["delivered", "delivered"]


async def test_what_the_desk_sends_reaches_the_customer_with_receipts(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    lid_chat = lid_of(ODD)
    await post(phone, f"/customers/{ODD}/messages", {"to": BUSINESS, "text": "Oi"}, status=201)
    received = (await recorder.count(MessageReceivedEvent, 1))[0]

    await session.mark_read(MarkRead(chat=lid_chat, wa_ids=[received.data.wa_id]))
    result = await session.send(SendText(client_id="c-1", to=lid_chat, text="Bom dia!"))
    assert result.status == "sent"
    assert result.wa_id
    assert result.at is not None
    again = await session.send(SendText(client_id="c-1", to=lid_chat, text="Bom dia!"))
    assert again.wa_id == result.wa_id  # a retried client_id never sends twice

    echo = (await recorder.count(MessageSentEvent, 1))[0]
    assert echo.data.client_id == "c-1"
    assert echo.data.from_me
    assert echo.data.chat.pn == f"{ODD}@s.whatsapp.net"
    assert echo.data.chat.lid == lid_chat
    assert echo.data.sender.pn == f"{BUSINESS}@s.whatsapp.net"

    delivered = await recorder.wait(
        lambda e: isinstance(e, MessageStatusEvent) and e.data.status is DeliveryStatus.DELIVERED
    )
    assert isinstance(delivered, MessageStatusEvent)
    assert delivered.data.wa_ids == [result.wa_id]
    assert delivered.data.client_id == "c-1"

    view = await get(phone, f"/customers/{ODD}/messages")
    assert [(m["sender"], m["text"], m["status"]) for m in view["messages"]] == [
        ("customer", "Oi", "read"),
        ("business", "Bom dia!", "delivered"),
    ]
    await post(phone, f"/customers/{ODD}/read", {"wa_ids": [result.wa_id]})
    read = await recorder.wait(
        lambda e: isinstance(e, MessageStatusEvent) and e.data.status is DeliveryStatus.READ
    )
    assert isinstance(read, MessageStatusEvent)
    assert read.data.wa_ids == [result.wa_id]


async def test_a_voice_note_is_played_and_media_can_come_from_a_url(
    new_session: Callable[..., Any], phone: ClientSession, sim: TestServer
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    audio = base64.b64encode(b"OggS" + b"\x01" * 100).decode()
    voice = SendMedia(
        client_id="v-1",
        to=f"{EVEN}@s.whatsapp.net",
        media=OutgoingMedia(kind="voice", mime="audio/ogg", data_b64=audio, duration_s=3),
    )
    sent = await session.send(voice)
    echo = (await recorder.count(MessageSentEvent, 1))[0]
    assert echo.data.kind is MessageKind.VOICE
    assert echo.data.media.size == 104
    # The file is served by the simulated WhatsApp, so fetching "a URL" works in a test.
    sha = echo.data.media.sha256
    by_url = SendMedia(
        client_id="d-1",
        to=f"{EVEN}@s.whatsapp.net",
        media=OutgoingMedia(
            kind="document",
            mime="application/pdf",
            filename="nota.pdf",
            caption="Sua nota",
            url=str(sim.make_url(f"/media/{sha}")),
        ),
    )
    await session.send(by_url)
    view = await get(phone, f"/customers/{EVEN}/messages")
    document = view["messages"][-1]
    assert document["kind"] == "document"
    assert document["text"] == "Sua nota"
    assert document["media"]["size"] == 104
    assert document["media"]["filename"] == "nota.pdf"

    await post(phone, f"/customers/{EVEN}/read", {"wa_ids": [sent.wa_id]})
    played = await recorder.wait(
        lambda e: isinstance(e, MessageStatusEvent) and e.data.status is DeliveryStatus.PLAYED
    )
    assert isinstance(played, MessageStatusEvent)
    assert played.data.wa_ids == [sent.wa_id]


async def test_commands_fail_clearly_when_not_connected(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    with pytest.raises(DriverError, match="Not connected"):
        await session.send(SendText(client_id="x", to=f"{EVEN}@s.whatsapp.net", text="oi"))
    await link(session, recorder, phone)
    with pytest.raises(DriverError, match="not on WhatsApp"):
        await session.send(SendText(client_id="y", to="123456789012345@lid", text="oi"))


async def test_typing_is_seen_both_ways(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    await post(phone, f"/customers/{ODD}/typing", {"to": BUSINESS, "state": "typing"})
    typing = await recorder.wait(lambda e: isinstance(e, ChatPresenceEvent))
    assert isinstance(typing, ChatPresenceEvent)
    assert typing.data.state is PresenceState.TYPING
    assert typing.data.chat == lid_of(ODD)

    chat = f"{ODD}@s.whatsapp.net"
    await session.typing(SetTyping(chat=chat, state=PresenceState.RECORDING))
    view = await get(phone, f"/customers/{ODD}/messages?to={BUSINESS}")
    assert view["chats"][0]["typing"] == "recording"
    await session.typing(SetTyping(chat=chat, state=PresenceState.PAUSED))
    view = await get(phone, f"/customers/{ODD}/messages?to={BUSINESS}")
    assert view["chats"][0]["typing"] is None


# Faults.


async def test_a_dropped_connection_comes_back_with_the_backlog_in_order_once(
    driver: SimDriver, new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    driver.backoff_initial_s = 0.4  # long enough to write while the device is away
    await post(phone, "/faults/drop", {"phone": BUSINESS})
    await recorder.status(SessionState.RECONNECTING, Reason.NETWORK)
    sent = []
    for n in range(20):
        answer = await post(
            phone, f"/customers/{EVEN}/messages", {"to": BUSINESS, "text": f"m{n}"}, status=201
        )
        sent.append(answer["wa_id"])
    view = await get(phone, f"/customers/{EVEN}/messages")
    assert {m["status"] for m in view["messages"]} == {"sent"}  # one tick: the device is away
    await recorder.status(SessionState.CONNECTED, Reason.ONLINE)
    received = await recorder.count(MessageReceivedEvent, 20)
    await asyncio.sleep(0.1)
    assert [e.data.wa_id for e in recorder.of(MessageReceivedEvent)] == sent
    assert [e.data.text for e in received] == [f"m{n}" for n in range(20)]
    no_repeats(recorder)


async def test_an_outage_is_ridden_out_with_growing_delays(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    began = time.monotonic()
    await post(phone, "/faults/outage", {"seconds": 1})
    await recorder.status(SessionState.CONNECTED, Reason.ONLINE, within=8)
    assert time.monotonic() - began >= 1
    retries = [
        e.data for e in recorder.of(SessionStatusEvent) if e.data.state is SessionState.RECONNECTING
    ]
    assert len(retries) >= 3
    assert retries[0].reason is Reason.NETWORK
    assert {r.reason for r in retries[1:]} == {Reason.CONNECT_FAILED}
    delays = [r.retry_in_s or 0 for r in retries]
    assert delays == sorted(delays), delays
    assert len(set(delays)) == len(delays), delays  # each wait longer than the last
    no_repeats(recorder)


async def test_latency_slows_every_frame(
    new_session: Callable[..., Any], phone: ClientSession
) -> None:
    session, recorder = new_session()
    await link(session, recorder, phone)
    await post(phone, "/faults/latency", {"ms": 250})
    began = time.monotonic()
    await post(phone, f"/customers/{EVEN}/messages", {"to": BUSINESS, "text": "a"}, status=201)
    await recorder.count(MessageReceivedEvent, 1)
    assert time.monotonic() - began >= 0.25
    began = time.monotonic()
    slow = await session.send(SendText(client_id="slow", to=f"{EVEN}@s.whatsapp.net", text="b"))
    assert time.monotonic() - began >= 0.5  # the request and its answer are both slowed
    await post(phone, "/faults/latency", {"ms": 0})
    # Frames already on their way keep their delay; after them, no more.
    await recorder.wait(
        lambda e: isinstance(e, MessageStatusEvent) and e.data.wa_ids == [slow.wa_id]
    )
    began = time.monotonic()
    await session.send(SendText(client_id="fast", to=f"{EVEN}@s.whatsapp.net", text="c"))
    assert time.monotonic() - began < 0.25


# Demo customers (`zapdesk sim --demo`, used by `zapdesk up --simulate`).


async def test_demo_customers_write_to_a_linked_number(aiohttp_server: Any, tmp_path: Path) -> None:
    demo = await aiohttp_server(create_app(demo_every_s=(0.01, 0.02)))
    driver = SimDriver(url=str(demo.make_url("/")), backoff_initial_s=0.05)
    await driver.open(capacity=1)
    recorder = Recorder()
    session = driver.session("demo", tmp_path / "demo.db", recorder)
    try:
        async with ClientSession(base_url=demo.make_url("/")) as phone:
            await link(session, recorder, phone)
        messages = await recorder.count(MessageReceivedEvent, 3)
        assert {m.data.sender.name for m in messages} <= {name for _, name in PEOPLE}
        assert all(m.data.text in LINES for m in messages)
    finally:
        await session.stop()
        await driver.close()
