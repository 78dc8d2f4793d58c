"""The neonize driver: real WhatsApp Web sessions through neonize (whatsmeow over ctypes).

Only session-host processes import this. Every call into neonize's Go bridge passes the host's
``FFIGate``; each session keeps one SQLite credentials file (``store``) and one ``NewAClient``
per connection attempt; every handler is ``async def``, registered before connect and wrapped
so that no exception vanishes (neonize drops them silently). See ``shared/neonize/GUIDE.md``.

Connection attempts: whatsmeow does not retry an *initial* connect, so the session does, with
exponential backoff and jitter, stopping the old client through the gate and building a fresh
one each time. Each failed ``Neonize()`` call leaks one open SQLite handle inside Go that no
call releases (``stop()`` included; measured), so once an attempt has failed the next one only
reaches Go after a plain TCP probe shows the way to WhatsApp (or the proxy) is open again:
offline, the retries cost no file descriptors.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import logging
import random
import urllib.request
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import structlog
from PIL import Image

from sessions.commands import (
    MarkRead,
    OutgoingMedia,
    OutgoingMediaKind,
    QuotedRef,
    SendCommand,
    SendMedia,
    SendReaction,
    SendResult,
    SendText,
    SetPresence,
    SetTyping,
)
from sessions.drivers.base import Driver, DriverError, Emit, SessionDriver
from sessions.drivers.ffi_gate import FFIGate
from sessions.drivers.neonize_events import (
    Translator,
    from_seconds,
    jid_str,
    media_message,
    peer,
    phone_of,
    reaction_message,
    status,
    status_for,
    text_message,
    to_jid,
    unwrap,
)
from sessions.events import (
    Event,
    Media,
    MessageData,
    MessageKind,
    MessageReactionEvent,
    MessageReceivedEvent,
    MessageSentEvent,
    PairCodeData,
    Peer,
    PresenceState,
    QRData,
    Quote,
    ReactionData,
    SessionQREvent,
    SessionStatusEvent,
    StatusData,
    utcnow,
)
from sessions.states import TERMINAL, Reason, SessionState

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ResourceWarning)  # see neonize_events: neonize's own pipe
    from neonize._binder import ProxySettings  # type: ignore[import-untyped]
    from neonize.aioze.client import NewAClient  # type: ignore[import-untyped]
    from neonize.aioze.events import (  # type: ignore[import-untyped]
        ChatPresenceEv,
        ClientOutdatedEv,
        ConnectedEv,
        ConnectFailureEv,
        DisconnectedEv,
        KeepAliveRestoredEv,
        KeepAliveTimeoutEv,
        LoggedOutEv,
        MessageEv,
        PairStatusEv,
        ReceiptEv,
        StreamReplacedEv,
        TemporaryBanEv,
    )
    from neonize.exc import NeonizeError  # type: ignore[import-untyped]
    from neonize.utils.enum import (  # type: ignore[import-untyped]
        ChatPresence,
        ChatPresenceMedia,
        MediaType,
        Presence,
        ReceiptType,
    )

log = structlog.get_logger(__name__)
T = TypeVar("T")
Handler = Callable[[Any, Any], Coroutine[Any, Any, None]]
# Stores an incoming file (bytes, mime, filename) where the gateway serves it; answers its key.
SaveMedia = Callable[[bytes, str | None, str | None], Awaitable[str]]

WHATSAPP_WEB = ("web.whatsapp.com", 443)
QR_FIRST_TTL = timedelta(seconds=60)  # whatsmeow shows the first code 60 s, the others 20 s
QR_NEXT_TTL = timedelta(seconds=20)
SENT_IDS_KEPT = 1000
THUMBNAIL_PX = 72
LIFECYCLE_EVENTS = (
    ConnectedEv,
    DisconnectedEv,
    KeepAliveTimeoutEv,
    KeepAliveRestoredEv,
    PairStatusEv,
    LoggedOutEv,
    StreamReplacedEv,
    TemporaryBanEv,
    ClientOutdatedEv,
    ConnectFailureEv,
)
UPLOAD_TYPES = {
    OutgoingMediaKind.IMAGE: MediaType.MediaImage,
    OutgoingMediaKind.STICKER: MediaType.MediaImage,  # stickers use the image media keys
    OutgoingMediaKind.VIDEO: MediaType.MediaVideo,
    OutgoingMediaKind.AUDIO: MediaType.MediaAudio,
    OutgoingMediaKind.VOICE: MediaType.MediaAudio,
    OutgoingMediaKind.DOCUMENT: MediaType.MediaDocument,
}
_jitter = random.SystemRandom()


class NeonizeDriver(Driver):
    """One per host process: the gate, the executor and the knobs every session shares.

    Keyword options are JSON values (the host passes ``--options``), except ``new_client``,
    which builds a ``NewAClient`` for a store path (tests use it to swap neonize's FFI backend).
    """

    name = "neonize"

    def __init__(
        self,
        *,
        proxy: str | None = None,
        retry_base_s: float = 2.0,
        retry_max_s: float = 300.0,
        qr_window_s: float = 170.0,
        qr_wait_s: float = 30.0,
        connect_grace_s: float = 1.0,
        stop_timeout_s: float = 8.0,
        probe_timeout_s: float = 5.0,
        probe_before_retry: bool = True,
        executor_headroom: int = 16,
        media_timeout_s: float = 60.0,
        max_media_bytes: int = 64 * 1024 * 1024,
        save_media: SaveMedia | None = None,
        new_client: Callable[[str], Any] | None = None,
    ) -> None:
        self.proxy = proxy
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.qr_window_s = qr_window_s
        self.qr_wait_s = qr_wait_s
        self.stop_timeout_s = stop_timeout_s
        self.probe_timeout_s = probe_timeout_s
        self.probe_before_retry = probe_before_retry
        self.executor_headroom = executor_headroom
        self.media_timeout_s = media_timeout_s
        self.max_media_bytes = max_media_bytes
        # None: incoming media is described but not downloaded (Media.key stays empty).
        self.save_media = save_media
        self.new_client: Callable[[str], Any] = new_client or NewAClient
        self.gate = FFIGate(connect_grace_s)
        # Neonize() calls that failed: each left an open SQLite handle in Go (see above).
        self.failed_connects = 0
        self._opened = False
        self._http: aiohttp.ClientSession | None = None
        # FFI work we stopped waiting for (a stuck stop, a parked connect): kept referenced.
        self._stuck: set[asyncio.Future[Any]] = set()

    async def open(self, capacity: int) -> None:
        # Each connected session parks one default-executor thread inside Neonize() for its
        # whole life, and every other FFI call also runs in that pool: size it to the shard.
        loop = asyncio.get_running_loop()
        workers = capacity + self.executor_headroom
        loop.set_default_executor(ThreadPoolExecutor(workers, thread_name_prefix="neonize"))
        # Read once per connect: the level below which Go does not even forward its logs.
        logging.getLogger("neonize.utils.log").setLevel(logging.INFO)
        self._opened = True

    def session(self, session_id: str, store: Path, emit: Emit) -> NeonizeSession:
        if not self._opened:
            raise RuntimeError("NeonizeDriver.open() must run before sessions are made")
        return NeonizeSession(self, session_id, store, emit)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        # The executor from open() belongs to the loop now and is shut down with it.
        if self._stuck:
            await asyncio.wait(self._stuck, timeout=self.stop_timeout_s)
            if any(not future.done() for future in self._stuck):
                log.error("neonize_calls_still_stuck", count=len(self._stuck))

    def keep(self, future: asyncio.Future[Any]) -> None:
        self._stuck.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: asyncio.Future[Any]) -> None:
        self._stuck.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.warning("neonize_late_failure", error=str(future.exception()))

    def proxy_settings(self) -> Any:
        return None if self.proxy is None else ProxySettings(proxy_address=self.proxy)

    def retry_delay(self, attempt: int) -> float:
        """Exponential, with "equal jitter": half the delay fixed, half random, so delays
        still grow attempt after attempt but sessions of one host do not retry in step."""
        ceiling = min(self.retry_max_s, self.retry_base_s * 2.0 ** min(attempt, 32))
        return round(ceiling / 2 + _jitter.uniform(0, ceiling / 2), 3)

    async def path_open(self) -> bool:
        """Whether a TCP connection to WhatsApp Web (or the proxy in front of it) opens."""
        proxy = self.proxy or urllib.request.getproxies().get("https")
        host, port = WHATSAPP_WEB
        if proxy:
            parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            host, port = parts.hostname or "", parts.port or 1080
        try:
            async with asyncio.timeout(self.probe_timeout_s):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def fetch(self, url: str) -> bytes:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        limit = self.max_media_bytes
        data = bytearray()
        try:
            timeout = aiohttp.ClientTimeout(total=self.media_timeout_s)
            async with self._http.get(url, timeout=timeout) as response:
                response.raise_for_status()
                async for chunk in response.content.iter_chunked(256 * 1024):
                    data += chunk
                    if len(data) > limit:
                        raise DriverError(f"The file to send is larger than {limit} bytes.")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DriverError(f"Could not fetch the file to send: {exc}") from None
        return bytes(data)


class NeonizeSession(SessionDriver):
    def __init__(self, driver: NeonizeDriver, session_id: str, store: Path, emit: Emit) -> None:
        super().__init__(session_id, store, emit)
        self.driver = driver
        self.gate = driver.gate
        # A fresh proxy: binds with the logging set up now, not whatever a cached one saw.
        self.log = structlog.get_logger(__name__).bind(session_id=session_id)
        self.translator = Translator(session_id)
        self._client: Any = None  # the current attempt's NewAClient; None between attempts
        self._runner: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # the current attempt (or pause) must end now
        self._ending: StatusData | None = None  # set once: why the session stops for good
        self._retry_now = False
        self._attempts = 0
        self._status: StatusData | None = None
        self._restored = self._was_online = self._just_paired = self._logging_out = False
        self._me: Peer | None = None
        self.qr: QRData | None = None  # the code to show now, while the login window is open
        self._qr_index = 0
        self._qr_shown = asyncio.Event()
        self._window_ends = utcnow()
        self._window_timer: asyncio.TimerHandle | None = None
        self._sent: OrderedDict[str, None] = OrderedDict()  # our sends, to drop their echoes
        # Messages, receipts and presence are emitted in arrival order, even while a message
        # waits for its file to download (each handler is a task of its own).
        self._in_order = asyncio.Lock()

    # Lifecycle.

    async def start(self) -> None:
        if self._runner is not None and not self._runner.done():
            return
        self._ending, self._attempts = None, 0
        self._was_online = self._just_paired = self._logging_out = False
        self._restored = self.store.exists()
        self._publish(
            status(SessionState.STARTING, Reason.RESTORED if self._restored else Reason.NEW)
        )
        self._runner = asyncio.create_task(self._run(), name=f"neonize-{self.session_id}")

    async def stop(self) -> None:
        runner = self._runner
        if runner is None or runner.done():
            return
        ending = self._end(status(SessionState.STOPPED, Reason.REQUESTED))
        await asyncio.wait({runner}, timeout=self.driver.stop_timeout_s + 1)
        if not runner.done():  # Go is stuck; say stopped anyway, the host will be recycled
            self.log.error("neonize_stop_timed_out")
            self.driver.keep(runner)
            self._publish(ending)

    async def logout(self) -> None:
        client = self._client
        if client is not None and self._state is SessionState.CONNECTED:
            self._logging_out = True
            await self._ffi(client.logout, doing="unlink this device from the phone")
        else:  # nothing to tell WhatsApp now; the phone may keep listing the device
            self.log.warning("neonize_logout_while_offline", state=self._state.value)
        ending = status(SessionState.LOGGED_OUT, Reason.REQUESTED)
        runner = self._runner
        if runner is not None and not runner.done():
            ending = self._end(ending)
            await asyncio.wait({runner}, timeout=self.driver.stop_timeout_s + 1)
        self._delete_store()
        self._publish(ending)

    @property
    def _state(self) -> SessionState:
        return self._status.state if self._status is not None else SessionState.STOPPED

    def _end(self, ending: StatusData) -> StatusData:
        if self._ending is None:
            self._ending = ending
        self._wake.set()
        return self._ending

    def _delete_store(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.store}{suffix}").unlink(missing_ok=True)

    async def _run(self) -> None:
        probe = False
        try:
            while self._ending is None:
                if probe and self.driver.probe_before_retry and not await self.driver.path_open():
                    failed = True  # still no way to WhatsApp: do not even call into Go
                else:
                    failed = probe = await self._attempt()
                if self._ending is not None or not failed:
                    break
                delay = self.driver.retry_delay(self._attempts)
                self._attempts += 1
                self._publish(
                    status(SessionState.RECONNECTING, Reason.CONNECT_FAILED, retry_in_s=delay)
                )
                await self._pause(delay)
        except Exception as exc:
            self.log.exception("neonize_session_failed")
            failure = status(SessionState.FAILED, Reason.ERROR)
            self._end(failure.model_copy(update={"detail": f"{failure.detail} ({exc})"}))
        finally:
            self._cancel_window()
            ending = self._ending or status(SessionState.STOPPED, Reason.REQUESTED)
            if ending.state is SessionState.LOGGED_OUT:
                self._delete_store()  # whatsmeow already dropped the device row
            self._publish(ending)

    async def _pause(self, delay: float) -> None:
        if self._ending is not None:
            return
        self._wake.clear()
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _attempt(self) -> bool:
        """One client from connect to its end; True when it failed and is worth retrying."""
        self._wake.clear()
        self._retry_now = False
        self.qr, self._qr_index = None, 0
        self._qr_shown.clear()
        client = self._client = self._new_client()
        task: asyncio.Task[None] | None = None
        try:
            task = await self.gate.connect(client, self.driver.proxy_settings())
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({task, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
                await asyncio.wait({woken})
            if task.done() and not task.cancelled() and task.exception() is not None:
                self.driver.failed_connects += 1
                self.log.warning("neonize_connect_failed", error=str(task.exception()))
        finally:
            self._client = None
            self._cancel_window()
            await self._release(client, task)
        return self._ending is None

    async def _release(self, client: Any, task: asyncio.Task[None] | None) -> None:
        """Stops the client through the gate, waiting a bounded time, never forever."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.driver.stop_timeout_s
        stopping = asyncio.ensure_future(self.gate.stop(client))
        await asyncio.wait({stopping}, timeout=self.driver.stop_timeout_s)
        if not stopping.done():
            self.log.error("neonize_stop_stuck")
            self.driver.keep(stopping)
        elif stopping.exception() is not None:
            self.log.error("neonize_stop_failed", exc_info=stopping.exception())
        if task is None:
            return
        if not task.done():
            await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        if not task.done():
            # e.g. after an abandoned QR login Go polls for a login that never comes: its
            # worker thread stays parked until the host process ends.
            self.log.warning("neonize_worker_parked")
            self.driver.keep(task)
        elif not task.cancelled():
            task.exception()  # retrieved: a failed connect is reported by _attempt

    def _new_client(self) -> Any:
        client = self.driver.new_client(str(self.store))
        # neonize stops a client from a GC finalizer: a collected old client would stop the
        # next one (same store, same Go key) outside the gate. We stop through the gate.
        client._stop_finalizer.detach()
        register = client.event
        for event_type in LIFECYCLE_EVENTS:
            register(event_type)(self._guard(client, self._on_lifecycle))
        register(MessageEv)(self._guard(client, self._on_message, ordered=True))
        register(ReceiptEv)(self._guard(client, self._on_receipt, ordered=True))
        register(ChatPresenceEv)(self._guard(client, self._on_chat_presence, ordered=True))
        register.qr(self._guard(client, self._on_qr))
        return client

    def _guard(
        self,
        client: Any,
        handle: Callable[[Any], Awaitable[None] | None],
        *,
        ordered: bool = False,
    ) -> Handler:
        """neonize schedules handlers and drops their futures, so an exception would vanish
        without a trace: log it here. Events of a client already let go are ignored."""

        async def handler(_: Any, event: Any) -> None:
            if client is not self._client:
                return
            try:
                if ordered:
                    async with self._in_order:
                        result = handle(event)
                        if result is not None:
                            await result
                else:
                    handle(event)
            except Exception:
                self.log.exception(
                    "neonize_handler_failed",
                    handler=handle.__name__,
                    event_type=type(event).__name__,
                )

        return handler

    # What WhatsApp tells us (handlers run on the event loop, in arrival order).

    def _on_lifecycle(self, event: Any) -> None:
        data = status_for(event)
        if data is None:
            if isinstance(event, PairStatusEv):
                self.log.warning("neonize_pairing_failed", error=event.Error)
            return
        state = data.state
        if isinstance(event, ConnectFailureEv) and data.reason is Reason.CONNECT_FAILED:
            self.log.warning("neonize_connect_refused", reason=event.Reason, error=event.Message)
            self._retry_now = True  # whatsmeow gives up on these: start over with a new client
            self._wake.set()
            return
        if state is SessionState.PAIRING:
            self._cancel_window()
            self._just_paired = True
            self.qr = None
            if data.jid:
                self._me = peer(data.jid, name=data.name)
        elif state is SessionState.CONNECTED:
            self._cancel_window()
            self._attempts, self.qr = 0, None
            self._me = self._own_identity()
            if self._just_paired:
                reason = Reason.PAIRED
            elif self._restored and not self._was_online:
                reason = Reason.RESTORED
            else:
                reason = Reason.ONLINE
            me = self._me
            data = status(
                state,
                reason,
                jid=me.jid if me else None,
                phone=phone_of(me.jid) if me else None,
                name=me.name if me else None,
            )
            self._just_paired, self._was_online = False, True
        elif state is SessionState.LOGGED_OUT and self._logging_out:
            data = status(state, Reason.REQUESTED)
        self._publish(data)
        if state in TERMINAL:
            self._end(data)

    def _on_qr(self, code: bytes) -> None:
        now = utcnow()
        self._qr_index += 1
        if self._qr_index == 1:
            self._window_ends = now + timedelta(seconds=self.driver.qr_window_s)
            self._window_timer = asyncio.get_running_loop().call_later(
                self.driver.qr_window_s, self._qr_window_over
            )
            self._qr_shown.set()
            self._publish(status(SessionState.QR, Reason.WAITING_FOR_SCAN))
        ttl = QR_FIRST_TTL if self._qr_index == 1 else QR_NEXT_TTL
        self.qr = QRData(code=code.decode(), index=self._qr_index, expires_at=now + ttl)
        self.emit(SessionQREvent(session_id=self.session_id, data=self.qr))

    def _qr_window_over(self) -> None:
        self._window_timer = None
        if self._state is SessionState.QR:
            self.log.info("neonize_qr_window_over")
            self.qr = None
            # Said now: releasing the client can take a while (Go may still be polling).
            self._publish(self._end(status(SessionState.STOPPED, Reason.QR_EXPIRED)))

    def _cancel_window(self) -> None:
        if self._window_timer is not None:
            self._window_timer.cancel()
            self._window_timer = None

    async def _on_message(self, event: Any) -> None:
        client = self._client
        for item in self.translator.message(event):
            if isinstance(item, MessageSentEvent) and item.data.wa_id in self._sent:
                continue  # the desk's own send, reported when it was sent
            if isinstance(item, MessageReceivedEvent | MessageSentEvent) and item.data.media:
                item = await self._with_file(client, event, item)
            self.emit(item)

    async def _with_file(
        self, client: Any, event: Any, item: MessageReceivedEvent | MessageSentEvent
    ) -> MessageReceivedEvent | MessageSentEvent:
        """The message with ``Media.key`` set once its file is downloaded and stored; as it
        was, with the failure logged, when that fails (the message itself must still go)."""
        media, save = item.data.media, self.driver.save_media
        if media is None or save is None or client is None:
            return item
        limit, wa_id = self.driver.max_media_bytes, item.data.wa_id
        if media.size and media.size > limit:
            self.log.warning("neonize_media_too_large", wa_id=wa_id, size=media.size)
            return item
        download = asyncio.ensure_future(self.gate.call(client.download_any, unwrap(event.Message)))
        done, _ = await asyncio.wait({download}, timeout=self.driver.media_timeout_s)
        if not done:  # Go cannot be interrupted; let it finish on its own
            self.driver.keep(download)
            self.log.warning("neonize_media_download_timed_out", wa_id=wa_id)
            return item
        try:
            data = download.result()
            if not data or len(data) > limit:
                raise DriverError(f"got {len(data or b'')} bytes (at most {limit})")
            key = await save(bytes(data), media.mime, media.filename)
        except (NeonizeError, DriverError, OSError) as exc:
            self.log.warning("neonize_media_not_downloaded", wa_id=wa_id, error=str(exc)[:200])
            return item
        stored = media.model_copy(update={"key": key, "sha256": key, "size": len(data)})
        return item.model_copy(update={"data": item.data.model_copy(update={"media": stored})})

    def _on_receipt(self, event: Any) -> None:
        for item in self.translator.receipt(event):
            self.emit(item)

    def _on_chat_presence(self, event: Any) -> None:
        for item in self.translator.chat_presence(event):
            self.emit(item)

    def _publish(self, data: StatusData) -> None:
        """Emits a status once per change: the same status twice in a row is said once."""
        if data == self._status:
            return
        self._status = data
        reason = data.reason.value if data.reason else None
        self.log.info("neonize_status", state=data.state.value, reason=reason)
        self.emit(SessionStatusEvent(session_id=self.session_id, data=data))

    def _own_identity(self) -> Peer | None:
        device = getattr(self._client, "me", None)  # neonize sets it right after login
        if device is None or not device.HasField("JID"):
            return self._me
        lid = jid_str(device.LID) if device.HasField("LID") else ""
        return peer(jid_str(device.JID), lid, name=device.PushName or None)

    # Commands.

    async def pair_code(self, phone: str) -> PairCodeData:
        runner = self._runner
        if runner is None or runner.done():
            raise DriverError("The session is not running; start it to link a phone.")
        if self._state in (SessionState.PAIRING, SessionState.CONNECTED):
            raise DriverError("This session is already linked to a phone.")
        if not self._qr_shown.is_set():
            # whatsmeow accepts PairPhone only once the login window is open (first QR code).
            shown = asyncio.ensure_future(self._qr_shown.wait())
            try:
                await asyncio.wait(
                    {shown, runner},
                    timeout=self.driver.qr_wait_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                shown.cancel()
                await asyncio.wait({shown})
        client = self._client
        if not self._qr_shown.is_set() or client is None:
            raise DriverError("WhatsApp has not opened a login window yet; try again shortly.")
        code = await self._ffi(client.PairPhone, phone, True, doing="get a pairing code")
        self._publish(status(SessionState.QR, Reason.PAIR_CODE_ISSUED))
        return PairCodeData(code=str(code), phone=phone, expires_at=self._window_ends)

    async def send(self, command: SendCommand) -> SendResult:
        client = self._online()
        to = to_jid(command.to)
        media: Media | None = None
        if isinstance(command, SendText):
            message = text_message(command.text, command.quoted)
        elif isinstance(command, SendMedia):
            message, media = await self._media_message(client, command.media, command.quoted)
        else:
            message = reaction_message(command)
        response = await self._ffi(client.send_message, to, message, doing="send the message")
        wa_id, at = str(response.ID), from_seconds(response.Timestamp)
        self._sent[wa_id] = None
        while len(self._sent) > SENT_IDS_KEPT:
            self._sent.popitem(last=False)
        self.emit(self._echo(command, jid_str(to), wa_id, at, media))
        return SendResult(client_id=command.client_id, status="sent", wa_id=wa_id, at=at)

    async def mark_read(self, command: MarkRead) -> None:
        client = self._online()
        chat = to_jid(command.chat)
        sender = to_jid(command.sender) if command.sender else chat
        await self._ffi(
            client.mark_read,
            *command.wa_ids,
            chat=chat,
            sender=sender,
            receipt=ReceiptType.READ,
            doing="mark the messages as read",
        )

    async def typing(self, command: SetTyping) -> None:
        client = self._online()
        paused = command.state is PresenceState.PAUSED
        state = (
            ChatPresence.CHAT_PRESENCE_PAUSED if paused else ChatPresence.CHAT_PRESENCE_COMPOSING
        )
        recording = command.state is PresenceState.RECORDING
        media = (
            ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO
            if recording
            else ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
        )
        chat = to_jid(command.chat)
        await self._ffi(client.send_chat_presence, chat, state, media, doing="show typing")

    async def presence(self, command: SetPresence) -> None:
        client = self._online()
        presence = Presence.AVAILABLE if command.available else Presence.UNAVAILABLE
        await self._ffi(client.send_presence, presence, doing="set the presence")

    def _online(self) -> Any:
        client = self._client
        if client is None or self._state is not SessionState.CONNECTED:
            raise DriverError(f"Not connected to WhatsApp; the session is {self._state.value}.")
        return client

    async def _ffi(self, call: Callable[..., Any], *args: Any, doing: str, **kwargs: Any) -> Any:
        try:
            return await self.gate.call(call, *args, **kwargs)
        except NeonizeError as exc:
            raise DriverError(f"Could not {doing}: {exc}") from None

    async def _media_message(
        self, client: Any, item: OutgoingMedia, quoted: QuotedRef | None
    ) -> tuple[Any, Media]:
        if item.data_b64 is not None:
            try:
                data = base64.b64decode(item.data_b64, validate=True)
            except binascii.Error:
                raise DriverError("The file to send is not valid base64.") from None
            if len(data) > self.driver.max_media_bytes:
                raise DriverError("The file to send is too large.")
        else:
            data = await self.driver.fetch(item.url or "")
        if not data:
            raise DriverError("The file to send is empty.")
        kind = UPLOAD_TYPES[item.kind]
        upload = await self._ffi(client.upload, data, kind, doing="upload the file")
        thumbnail = None
        if item.kind is OutgoingMediaKind.IMAGE:
            thumbnail = await asyncio.to_thread(image_thumbnail, data)
        message = media_message(item, upload, thumbnail, quoted)
        media = Media(
            mime=item.mime,
            size=len(data),
            filename=item.filename,
            sha256=upload.FileSHA256.hex() or None,
            duration_s=item.duration_s,
        )
        return message, media

    def _echo(self, command: SendCommand, chat: str, wa_id: str, at: Any, media: Any) -> Event:
        """What the desk just sent, as an event like those of messages typed on the phone."""
        me = self._me or Peer(jid="")
        if isinstance(command, SendReaction):
            reaction = ReactionData(
                wa_id=command.wa_id, chat=chat, sender=me, from_me=True, emoji=command.emoji
            )
            return MessageReactionEvent(session_id=self.session_id, data=reaction)
        quoted = command.quoted
        if isinstance(command, SendText):
            kind, text = MessageKind.TEXT, command.text
        else:
            kind, text = MessageKind(command.media.kind.value), command.media.caption or ""
        data = MessageData(
            wa_id=wa_id,
            chat=peer(chat),
            sender=me,
            from_me=True,
            is_group=chat.endswith("@g.us"),
            timestamp=at,
            kind=kind,
            text=text,
            media=media,
            quoted=None
            if quoted is None
            else Quote(wa_id=quoted.wa_id, sender=quoted.sender, text=quoted.text),
            client_id=command.client_id,
        )
        return MessageSentEvent(session_id=self.session_id, data=data)


def image_thumbnail(data: bytes) -> tuple[bytes, int, int] | None:
    """A small JPEG preview and the picture's size, shown while the image downloads."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            preview = image.convert("RGB")
            preview.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            out = io.BytesIO()
            preview.save(out, "JPEG", quality=60)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # not an image PIL knows: WhatsApp shows a grey box until it loads
    return out.getvalue(), width, height
