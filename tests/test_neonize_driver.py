"""The neonize driver: linking, reconnecting, stopping and sending, all offline.

Sessions run the real driver over real ``NewAClient``s whose Go backend is a recording fake;
what needs the real Go library (an offline connect, the gate under concurrent load) runs in a
subprocess, so that a Go fatal error fails the test instead of killing pytest.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from gateway.media import MediaStore
from sessions.commands import (
    MarkRead,
    OutgoingMedia,
    OutgoingMediaKind,
    QuotedRef,
    SendMedia,
    SendReaction,
    SendText,
    SetPresence,
    SetTyping,
)
from sessions.drivers.base import DriverError
from sessions.drivers.ffi_gate import FFIGate
from sessions.drivers.neonize_driver import NeonizeDriver, NeonizeSession
from sessions.events import (
    Media,
    MessageKind,
    MessageReactionEvent,
    MessageReceivedEvent,
    MessageSentEvent,
    PresenceState,
    SessionQREvent,
)
from sessions.states import Reason, SessionState
from tests.neonize_kit import (
    CUSTOMER_PN,
    ME_PN,
    ROOT,
    T0_S,
    ChatPresence,
    ChatPresenceMedia,
    E,
    Emitted,
    FakeClients,
    MediaType,
    N,
    Presence,
    device,
    jid,
    message_event,
    nz_events,
    push,
    push_qr,
    source,
    wait_until,
)

CUSTOMER = f"{CUSTOMER_PN}@s.whatsapp.net"
QR = "https://wa.me/settings/linked_devices#2@REF,NOISE=,IDENTITY=,ADV=,2"


@pytest.fixture(autouse=True)
def neonize_loop() -> None:
    """neonize dispatches to the first loop that ever connected; each test has its own."""
    nz_events.event_global_loop = None


@dataclass
class Host:
    driver: NeonizeDriver
    clients: FakeClients
    emitted: Emitted
    session: NeonizeSession


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Makes a driver over fake Go backends and one session on it; cleans both up."""
    made: list[Host] = []

    async def make(*connect_errors: str, **options: Any) -> Host:
        clients = FakeClients(*connect_errors)
        settings: dict[str, Any] = {
            "connect_grace_s": 0,
            "stop_timeout_s": 1,
            "probe_before_retry": False,  # the fakes fail on demand; no network to probe
            "new_client": clients,
        }
        driver = NeonizeDriver(**(settings | options))
        await driver.open(4)
        emitted = Emitted()
        session = driver.session("s1", tmp_path / "s1.db", emitted)
        made.append(Host(driver, clients, emitted, session))
        return made[-1]

    yield make
    for each in made:
        await each.session.stop()
        await each.driver.close()


async def online(host: Host) -> Any:
    await host.session.start()
    await host.clients.running()
    await push(host.clients.client, device(), nz_events.ConnectedEv(status=True))
    await host.emitted.status(SessionState.CONNECTED)
    return host.clients.go


# Linking a phone.


async def test_qr_codes_are_pushed_with_index_and_expiry(host: Callable[..., Any]) -> None:
    h: Host = await host()
    await h.session.start()
    await h.clients.running()
    before = datetime.now(UTC)
    await push_qr(h.clients.client, QR)
    await push_qr(h.clients.client, QR.replace("REF", "REF2"))
    await h.emitted.until(lambda e: isinstance(e, SessionQREvent) and e.data.index == 2)

    first, second = (event.data for event in h.emitted.of(SessionQREvent))
    assert (first.code, first.index) == (QR, 1)
    assert (
        before + timedelta(seconds=59)
        < first.expires_at
        <= datetime.now(UTC) + timedelta(seconds=60)
    )
    assert (second.code, second.index) == (QR.replace("REF", "REF2"), 2)
    assert second.expires_at <= datetime.now(UTC) + timedelta(seconds=20)
    assert h.session.qr == second  # kept for whoever asks for the current code
    states = [(s.state, s.reason) for s in h.emitted.statuses()]
    assert states == [
        (SessionState.STARTING, Reason.NEW),
        (SessionState.QR, Reason.WAITING_FOR_SCAN),  # once, not once per code
    ]


async def test_an_unscanned_qr_window_stops_the_session(host: Callable[..., Any]) -> None:
    h: Host = await host(qr_window_s=0.05)
    await h.session.start()
    await h.clients.running()
    await push_qr(h.clients.client, QR)
    stopped = await h.emitted.status(SessionState.STOPPED)

    assert stopped.reason is Reason.QR_EXPIRED
    assert "expired" in stopped.detail
    await wait_until(lambda: h.clients.go.stopped.is_set())
    await asyncio.sleep(0.05)
    assert len(h.clients.made) == 1  # waits for a restart, does not loop
    await h.session.start()  # a restart opens a new window
    await h.clients.running(count=2)


async def test_a_pair_code_waits_for_the_first_qr(host: Callable[..., Any]) -> None:
    h: Host = await host(qr_window_s=170)
    await h.session.start()
    await h.clients.running()
    request = asyncio.create_task(h.session.pair_code("5511988887777"))
    await asyncio.sleep(0.02)
    assert not request.done()
    assert "PairPhone" not in h.clients.go.names()  # whatsmeow refuses it before the first QR

    await push_qr(h.clients.client, QR)
    code = await request
    assert code.code == "ABCD-EFGH"
    assert code.phone == "5511988887777"
    qr_time = h.emitted.of(SessionQREvent)[0].data.expires_at - timedelta(seconds=60)
    assert abs(code.expires_at - (qr_time + timedelta(seconds=170))) < timedelta(seconds=1)
    params = N.PairPhoneParams.FromString(h.clients.go.args("PairPhone")[0][1])
    assert (params.phone, params.showPushNotification) == ("5511988887777", True)
    latest = h.emitted.statuses()[-1]
    assert (latest.state, latest.reason) == (SessionState.QR, Reason.PAIR_CODE_ISSUED)


async def test_a_pair_code_without_a_login_window_is_refused(host: Callable[..., Any]) -> None:
    h: Host = await host(qr_wait_s=0.05)
    with pytest.raises(DriverError, match="not running"):
        await h.session.pair_code("5511988887777")
    await h.session.start()
    await h.clients.running()
    with pytest.raises(DriverError, match="login window"):
        await h.session.pair_code("5511988887777")


# Connecting, reconnecting, stopping.


async def test_failed_connects_retry_with_growing_delays_and_fresh_clients(
    host: Callable[..., Any],
) -> None:
    error = "failed to dial whatsapp web websocket: no such host"
    h: Host = await host(error, error, error, error, retry_base_s=0.01, retry_max_s=1)
    await h.session.start()
    await h.clients.running(count=5)  # the fifth attempt gets through
    await push(h.clients.client, device(), nz_events.ConnectedEv(status=True))
    await h.emitted.status(SessionState.CONNECTED)

    retries = [s for s in h.emitted.statuses() if s.state is SessionState.RECONNECTING]
    assert [s.reason for s in retries] == [Reason.CONNECT_FAILED] * 4
    delays = [s.retry_in_s or 0 for s in retries]
    assert delays == sorted(delays)
    assert delays[-1] > delays[0]
    assert all(0.005 <= d <= 0.08 for d in delays)  # 0.01 * 2**n, half of it random
    # Each failed client was stopped (freeing it in Go) before the next one was made.
    assert [go.names() for _, go in h.clients.made[:4]] == [["Neonize", "Stop"]] * 4
    assert h.driver.failed_connects == 4
    assert len({id(client) for client, _ in h.clients.made}) == 5


async def test_stop_stops_the_client_and_says_so_once(host: Callable[..., Any]) -> None:
    h: Host = await host()
    go = await online(h)
    await h.session.stop()
    await h.session.stop()

    assert go.names() == ["Neonize", "Stop"]
    last = h.emitted.statuses()[-1]
    assert (last.state, last.reason) == (SessionState.STOPPED, Reason.REQUESTED)
    assert [s.state for s in h.emitted.statuses()].count(SessionState.STOPPED) == 1


async def test_stop_returns_even_when_go_hangs(host: Callable[..., Any]) -> None:
    h: Host = await host(stop_timeout_s=0.1)
    go = await online(h)
    go.stop_release = asyncio.Event()  # Stop() blocks, as when Go waits on a hung dial
    started = time.monotonic()
    await h.session.stop()

    assert time.monotonic() - started < 1.5
    assert h.emitted.statuses()[-1].state is SessionState.STOPPED
    go.stop_release.set()  # let the stuck call finish so nothing outlives the test
    await h.driver.close()


async def test_logout_unlinks_and_deletes_the_credentials(host: Callable[..., Any]) -> None:
    h: Host = await host()
    go = await online(h)
    h.session.store.write_bytes(b"credentials")
    await h.session.logout()

    assert go.names()[-2:] == ["Logout", "Stop"]
    assert not h.session.store.exists()
    last = h.emitted.statuses()[-1]
    assert (last.state, last.reason) == (SessionState.LOGGED_OUT, Reason.REQUESTED)


async def test_the_executor_is_sized_to_the_shard(host: Callable[..., Any]) -> None:
    h: Host = await host(executor_headroom=3)
    await h.driver.open(5)
    release = asyncio.Event()
    loop = asyncio.get_running_loop()
    running: list[int] = []

    def park() -> None:  # what a connected session does to one executor thread
        running.append(1)
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result()

    parked = [asyncio.ensure_future(asyncio.to_thread(park)) for _ in range(9)]
    await wait_until(lambda: len(running) == 8)  # 5 sessions + 3 spare threads, no more
    await asyncio.sleep(0.02)
    assert len(running) == 8
    release.set()
    await asyncio.gather(*parked)


# Sending.


async def test_text_is_sent_literally_and_reported(host: Callable[..., Any]) -> None:
    h: Host = await host()
    go = await online(h)
    text = "Call @5511999999999 or see https://example.com"
    result = await h.session.send(SendText(client_id="c1", to=CUSTOMER, text=text))

    sent = go.sent()[0]
    assert sent.conversation == text  # no mention, no link preview
    assert not sent.HasField("extendedTextMessage")
    to = N.JID.FromString(go.args("SendMessage")[0][1])
    assert (to.User, to.Server, to.Device) == (CUSTOMER_PN, "s.whatsapp.net", 0)
    assert (result.client_id, result.status) == ("c1", "sent")
    assert str(result.wa_id).startswith("3EB0")
    assert result.at == datetime.fromtimestamp(T0_S + 60, UTC)  # seconds, from the response

    echo = h.emitted.of(MessageSentEvent)[0].data
    assert (echo.wa_id, echo.client_id, echo.text, echo.kind) == (
        result.wa_id,
        "c1",
        text,
        MessageKind.TEXT,
    )
    assert (echo.chat.jid, echo.sender.pn) == (CUSTOMER, f"{ME_PN}@s.whatsapp.net")
    # WhatsApp's echo of our own send is not reported twice.
    src = source(jid(CUSTOMER_PN), jid(ME_PN), from_me=True)
    await push(
        h.clients.client, message_event(E.Message(conversation=text), wa_id=result.wa_id, src=src)
    )
    await push(
        h.clients.client, message_event(E.Message(conversation="phone"), wa_id="P1", src=src)
    )
    await h.emitted.until(lambda e: isinstance(e, MessageSentEvent) and e.data.wa_id == "P1")
    assert [e.data.wa_id for e in h.emitted.of(MessageSentEvent)] == [result.wa_id, "P1"]


async def test_a_reply_quotes_the_original(host: Callable[..., Any]) -> None:
    h: Host = await host()
    go = await online(h)
    quoted = QuotedRef(wa_id="3EB0ORIG", sender=f"{CUSTOMER_PN}:3@s.whatsapp.net", text="Price?")
    await h.session.send(SendText(client_id="c2", to=CUSTOMER, text="R$ 10", quoted=quoted))

    part = go.sent()[0].extendedTextMessage
    assert part.text == "R$ 10"
    context = part.contextInfo
    assert (context.stanzaID, context.participant) == ("3EB0ORIG", CUSTOMER)
    assert context.quotedMessage.conversation == "Price?"
    assert not context.mentionedJID
    assert h.emitted.of(MessageSentEvent)[0].data.quoted is not None


def png(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def media_command(kind: OutgoingMediaKind, data: bytes, mime: str, **extra: Any) -> SendMedia:
    item = OutgoingMedia(kind=kind, mime=mime, data_b64=base64.b64encode(data).decode(), **extra)
    return SendMedia(client_id="m1", to=CUSTOMER, media=item)


async def test_an_image_is_uploaded_then_sent(host: Callable[..., Any]) -> None:
    h: Host = await host()
    go = await online(h)
    picture = png()
    command = media_command(OutgoingMediaKind.IMAGE, picture, "image/png", caption="your order")
    await h.session.send(command)

    assert go.names()[-2:] == ["Upload", "SendMessage"]
    _, uploaded, size, media_type = go.args("Upload")[0]
    assert (uploaded, size, media_type) == (picture, len(picture), MediaType.MediaImage.value)
    part = go.sent()[0].imageMessage
    assert (part.mimetype, part.caption, part.width, part.height) == (
        "image/png",
        "your order",
        800,
        600,
    )
    assert part.URL == "https://mmg.whatsapp.net/d/f/fake.enc"
    assert (part.directPath, part.fileLength) == ("/v/t62.7118-24/fake", len(picture))
    assert part.mediaKey == b"\x01" * 32
    assert part.JPEGThumbnail.startswith(b"\xff\xd8")  # a JPEG preview
    echo = h.emitted.of(MessageSentEvent)[0].data
    assert (echo.kind, echo.text) == (MessageKind.IMAGE, "your order")
    assert echo.media == Media(mime="image/png", size=len(picture), sha256="03" * 32)


async def test_a_voice_note_needs_no_ffmpeg(
    host: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg, no ffprobe
    h: Host = await host()
    go = await online(h)
    ogg = b"OggS\x00\x02" + bytes(200)
    command = media_command(OutgoingMediaKind.VOICE, ogg, "audio/ogg; codecs=opus", duration_s=7)
    await h.session.send(command)

    assert go.args("Upload")[0][3] == MediaType.MediaAudio.value
    part = go.sent()[0].audioMessage
    assert (part.PTT, part.seconds, part.mimetype) == (True, 7, "audio/ogg; codecs=opus")
    assert part.fileLength == len(ogg)


@pytest.mark.parametrize(
    ("kind", "mime", "field", "upload_type"),
    [
        (OutgoingMediaKind.DOCUMENT, "application/pdf", "documentMessage", MediaType.MediaDocument),
        (OutgoingMediaKind.VIDEO, "video/mp4", "videoMessage", MediaType.MediaVideo),
        (OutgoingMediaKind.AUDIO, "audio/mpeg", "audioMessage", MediaType.MediaAudio),
        (OutgoingMediaKind.STICKER, "image/webp", "stickerMessage", MediaType.MediaImage),
    ],
    ids=["document", "video", "audio", "sticker"],
)
async def test_other_media_go_out_as_their_own_kind(
    host: Callable[..., Any], kind: OutgoingMediaKind, mime: str, field: str, upload_type: Any
) -> None:
    h: Host = await host()
    go = await online(h)
    command = media_command(kind, b"file bytes", mime, filename="invoice.pdf", duration_s=3)
    await h.session.send(command)

    assert go.args("Upload")[0][3] == upload_type.value
    message = go.sent()[0]
    assert message.HasField(field)
    part = getattr(message, field)
    assert part.mimetype == mime
    if kind is OutgoingMediaKind.DOCUMENT:
        assert part.fileName == "invoice.pdf"
    if kind is OutgoingMediaKind.AUDIO:
        assert (part.PTT, part.seconds) == (False, 3)


async def test_media_by_url_is_fetched_first(host: Callable[..., Any], aiohttp_server: Any) -> None:
    picture = png(40, 30)

    async def serve(request: web.Request) -> web.Response:
        if request.path == "/missing.png":
            raise web.HTTPNotFound()
        return web.Response(body=picture, content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    server = await aiohttp_server(app)
    h: Host = await host()
    go = await online(h)
    item = OutgoingMedia(
        kind=OutgoingMediaKind.IMAGE, mime="image/png", url=str(server.make_url("/a.png"))
    )
    await h.session.send(SendMedia(client_id="u1", to=CUSTOMER, media=item))
    assert go.args("Upload")[0][1] == picture

    missing = item.model_copy(update={"url": str(server.make_url("/missing.png"))})
    with pytest.raises(DriverError, match="Could not fetch the file to send: 404"):
        await h.session.send(SendMedia(client_id="u2", to=CUSTOMER, media=missing))


async def test_a_reaction_points_at_the_message(host: Callable[..., Any]) -> None:
    h: Host = await host()
    go = await online(h)
    group = "120363000000000001@g.us"
    command = SendReaction(
        client_id="r1",
        to=group,
        wa_id="3EB0THEIRS",
        sender=f"{CUSTOMER_PN}:3@s.whatsapp.net",
        emoji="🙏",
    )
    await h.session.send(command)

    reaction = go.sent()[0].reactionMessage
    assert reaction.text == "🙏"
    assert (reaction.key.remoteJID, reaction.key.ID, reaction.key.fromMe) == (
        group,
        "3EB0THEIRS",
        False,
    )
    assert reaction.key.participant == CUSTOMER
    echo = h.emitted.of(MessageReactionEvent)[0].data
    assert (echo.wa_id, echo.emoji, echo.from_me) == ("3EB0THEIRS", "🙏", True)


async def test_mark_read_typing_and_presence(host: Callable[..., Any]) -> None:
    h: Host = await host()
    go = await online(h)
    await h.session.mark_read(MarkRead(chat=CUSTOMER, wa_ids=["3EB0A", "3EB0B"]))
    for state in (PresenceState.TYPING, PresenceState.RECORDING, PresenceState.PAUSED):
        await h.session.typing(SetTyping(chat=CUSTOMER, state=state))
    await h.session.presence(SetPresence(available=True))

    _, ids, _, chat, _, sender, _, receipt = go.args("MarkRead")[0]
    assert ids == b"3EB0A 3EB0B"
    assert N.JID.FromString(chat).User == N.JID.FromString(sender).User == CUSTOMER_PN
    assert receipt == b"read"
    presences = [args[3:] for args in go.args("SendChatPresence")]
    composing = ChatPresence.CHAT_PRESENCE_COMPOSING.value
    text, audio = (
        ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT.value,
        ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO.value,
    )
    assert presences == [
        (composing, text),
        (composing, audio),
        (ChatPresence.CHAT_PRESENCE_PAUSED.value, text),
    ]
    assert [args[1] for args in go.args("SendPresence")] == [Presence.AVAILABLE.value]


async def test_sending_needs_a_connection_and_explains_failures(host: Callable[..., Any]) -> None:
    h: Host = await host()
    command = SendText(client_id="c1", to=CUSTOMER, text="hi")
    with pytest.raises(DriverError, match="Not connected to WhatsApp; the session is stopped"):
        await h.session.send(command)
    go = await online(h)
    go.answers["SendMessage"] = N.SendMessageReturnFunction(
        Error="server returned error 479"
    ).SerializeToString()
    with pytest.raises(DriverError, match="Could not send the message: server returned error 479"):
        await h.session.send(command)
    with pytest.raises(DriverError, match="not a WhatsApp address"):
        await h.session.send(command.model_copy(update={"to": "alice@s.whatsapp.net"}))


# The gate, on its own.


async def test_the_gate_runs_connect_and_stop_alone() -> None:
    gate = FFIGate(connect_grace_s=0)
    log: list[str] = []
    release = asyncio.Event()

    async def read(name: str) -> None:
        log.append(f"+{name}")
        await release.wait()
        log.append(f"-{name}")

    class Client:
        async def connect(self, proxy_settings: Any = None) -> asyncio.Task[None]:
            log.append("connect")
            return asyncio.ensure_future(asyncio.sleep(0))

        async def stop(self) -> None:
            log.append("stop")

    first = asyncio.ensure_future(gate.call(read, "r1"))
    await asyncio.sleep(0)
    writer = asyncio.ensure_future(gate.connect(Client()))
    await asyncio.sleep(0)
    late = asyncio.ensure_future(gate.call(read, "r2"))  # queued behind the writer
    await asyncio.sleep(0.01)
    assert log == ["+r1"]
    release.set()
    task = await writer
    await asyncio.gather(first, late, task)
    await gate.stop(Client())
    assert log == ["+r1", "-r1", "connect", "+r2", "-r2", "stop"]
    assert not gate.busy


async def test_a_cancelled_caller_keeps_the_lease_until_go_returns() -> None:
    gate = FFIGate()
    go_returned = asyncio.Event()
    release = asyncio.Event()

    async def slow_ffi() -> None:
        await release.wait()  # a Go call keeps running in its thread whatever asyncio does
        go_returned.set()

    caller = asyncio.ensure_future(gate.call(slow_ffi))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.sleep(0.01)
    assert gate.busy
    assert not caller.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert go_returned.is_set()
    assert not gate.busy


# With the real Go library, in a process of its own.


def run_scenario(workdir: Path, *args: str, timeout: float = 60) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.neonize_kit", args[0], str(workdir), *args[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]  # a Go fatal error ends up here
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))  # type: ignore[no-any-return]


def test_an_offline_connect_retries_without_leaking_descriptors(tmp_path: Path) -> None:
    result = run_scenario(tmp_path, "offline-retries", "30")

    assert result["first_failure_s"] < 2  # a refused proxy fails at once
    assert result["statuses"][:2] == [["starting", "new"], ["reconnecting", "connect_failed"]]
    assert result["statuses"][-1] == ["stopped", "requested"]
    delays = result["delays"]
    # Growing: with equal jitter each delay lies in [ceiling/2, ceiling] and the ceiling doubles
    # (0.02, 0.04, 0.08 here), so the first three are in disjoint ranges; from the third on the
    # ceiling is the cap and jitter may reorder them.
    assert delays[:3] == sorted(delays[:3])
    assert delays[2] > delays[0]
    assert max(delays) <= 0.08  # ...up to the cap
    assert result["store_exists"]  # the first attempt really went through Go
    # 30 retries while the way is closed: Go was called once, the descriptors stayed put.
    assert result["retries"] >= 30
    assert result["go_failures_while_closed"] == 1
    assert result["fds_after_retries"] - result["fds_after_first"] <= 2
    # Once the proxy answered, retries reached Go again, each with a fresh client, each client
    # stopped before the next was made.
    assert result["go_attempts_when_open"] >= 2
    lifecycle = result["lifecycle"]
    expected = [
        f"{step}{n}"
        for n in range(1, len(lifecycle) // 3 + 1)
        for step in ("new", "connect", "stop")
    ]
    assert len(lifecycle) >= 9
    assert lifecycle == expected


def test_the_gate_keeps_go_alive_under_concurrent_connects_and_stops(tmp_path: Path) -> None:
    result = run_scenario(tmp_path, "gate-stress", "8", "40")

    assert result["cycles"] == 320
    assert result["violations"] == []
    assert result["exclusive_sections"] == 320 * 2 + 6 * 2  # every connect and stop, alone
    assert result["contended_reads"] > 100  # readers really waited on connects and stops
    assert result["max_concurrent_readers"] > 1  # and ran alongside each other otherwise


# Incoming media: downloaded through the FFI (DownloadAny) before the message is emitted.


def image_event(data: bytes, wa_id: str) -> Any:
    part = E.ImageMessage(
        mimetype="image/png",
        caption="my receipt",
        fileSHA256=hashlib.sha256(data).digest(),
        fileLength=len(data),
        width=2,
        height=2,
    )
    return message_event(E.Message(imageMessage=part), wa_id=wa_id)


async def test_a_received_image_is_downloaded_and_stored_before_it_is_emitted(
    host: Callable[..., Any], tmp_path: Path
) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(300)
    store = MediaStore(tmp_path / "media")
    h: Host = await host(save_media=store.save)
    go = await online(h)
    go.answers["DownloadAny"] = N.DownloadReturnFunction(Binary=data).SerializeToString()

    await push(
        h.clients.client,
        image_event(data, "IMG1"),
        message_event(E.Message(conversation="and?"), wa_id="T1"),
    )
    text = await h.emitted.until(
        lambda e: isinstance(e, MessageReceivedEvent) and e.data.wa_id == "T1"
    )
    received = h.emitted.of(MessageReceivedEvent)
    assert [e.data.wa_id for e in received] == ["IMG1", "T1"]  # the text waited its turn
    media = received[0].data.media
    key = hashlib.sha256(data).hexdigest()
    assert (media.key, media.sha256, media.size, media.mime) == (key, key, len(data), "image/png")
    assert text.data.media is None
    stored = store.find(key)
    assert (stored.path.read_bytes(), stored.mime) == (data, "image/png")
    asked = E.Message.FromString(go.args("DownloadAny")[0][1])
    assert asked.imageMessage.caption == "my receipt"

    # The same picture again is stored once.
    await push(h.clients.client, image_event(data, "IMG2"))
    await h.emitted.until(lambda e: isinstance(e, MessageReceivedEvent) and e.data.wa_id == "IMG2")
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == [key, f"{key}.json"]


async def test_a_failed_download_still_delivers_the_message_without_a_key(
    host: Callable[..., Any], tmp_path: Path
) -> None:
    store = MediaStore(tmp_path / "media")
    h: Host = await host(save_media=store.save, max_media_bytes=100)
    go = await online(h)
    go.answers["DownloadAny"] = N.DownloadReturnFunction(Error="media expired").SerializeToString()

    await push(h.clients.client, image_event(b"x" * 50, "GONE"), image_event(b"y" * 500, "BIG"))
    await h.emitted.until(lambda e: isinstance(e, MessageReceivedEvent) and e.data.wa_id == "BIG")
    gone, big = h.emitted.of(MessageReceivedEvent)
    assert (gone.data.wa_id, gone.data.media.key, gone.data.media.size) == ("GONE", None, 50)
    assert big.data.media.key is None
    assert len(go.args("DownloadAny")) == 1  # too large to even try
    assert not (tmp_path / "media").exists()
