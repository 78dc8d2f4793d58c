"""The sim driver: a linked device of the simulated WhatsApp (``zapdesk sim``).

Session hosts use it exactly as they use neonize: credentials live in a small SQLite file at
``store`` (backed up and restored by the supervisor), the session offers QR codes until the
phone scans one, restores itself without QR when credentials exist, reconnects on its own with
exponential backoff and jitter, and reports everything through ``emit``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from sessions.commands import (
    MarkRead,
    SendCommand,
    SendMedia,
    SendReaction,
    SendResult,
    SendText,
    SetPresence,
    SetTyping,
)
from sessions.drivers.base import Driver, DriverError, Emit, SessionDriver
from sessions.events import (
    PairCodeData,
    QRData,
    SessionQREvent,
    SessionStatusEvent,
    StatusData,
)
from sessions.sim import device_store
from sessions.sim.device_store import DeviceCredentials
from sessions.sim.protocol import from_ts
from sessions.sim.translate import StreamTranslator, own_peer
from sessions.states import TERMINAL, Reason, SessionState, describe

log = structlog.get_logger("zapdesk.sim.driver")
MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_MEDIA_BYTES = 32 * 1024 * 1024
# Stores an incoming file (bytes, mime, filename) where the gateway serves it; answers its key.
SaveMedia = Callable[[bytes, str | None, str | None], Awaitable[str]]


class SimDriver(Driver):
    name = "sim"

    def __init__(
        self,
        url: str = "http://127.0.0.1:8090",
        *,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        request_timeout_s: float = 30.0,
        heartbeat_s: float = 20.0,
        save_media: SaveMedia | None = None,
        max_media_bytes: int = 64 * 1024 * 1024,
        media_timeout_s: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        # None: incoming media is described but not downloaded (Media.key stays empty).
        self.save_media = save_media
        self.max_media_bytes = max_media_bytes
        self.media_timeout_s = media_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.request_timeout_s = request_timeout_s
        self.heartbeat_s = heartbeat_s
        self._http: aiohttp.ClientSession | None = None

    async def open(self, capacity: int) -> None:
        self.http()

    def http(self) -> aiohttp.ClientSession:
        """One HTTP client for every session of the host (each socket is one connection)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._http

    def session(self, session_id: str, store: Path, emit: Emit) -> SimSession:
        return SimSession(self, session_id, store, emit)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** min(attempt, 32))
        return round(delay * random.uniform(0.8, 1.2), 3)  # noqa: S311 - jitter, not a secret


class _End(Enum):
    """How a connection ended: the session either reconnects or waits for a person."""

    DROPPED = "dropped"
    FINAL = "final"


class SimSession(SessionDriver):
    def __init__(self, driver: SimDriver, session_id: str, store: Path, emit: Emit) -> None:
        super().__init__(session_id, store, emit)
        self.driver = driver
        self.log = log.bind(session_id=session_id)
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._credentials: DeviceCredentials | None = None
        self._status: StatusData | None = None
        self._status_changed = asyncio.Event()
        self._online = False  # connected frame seen on the current socket
        self._offering_codes = False
        self._pair_code_issued = False
        self._just_paired = False
        self._was_online = False
        self._answered = False  # the current socket got at least one frame
        self._logging_out = False
        self._last_seq = 0
        self._request_ids = itertools.count(1)
        self._requests: dict[int, asyncio.Future[dict[str, Any]]] = {}
        # Run by the reader the moment a send is answered, before any later receipt for it.
        self._on_answer: dict[int, Callable[[dict[str, Any]], None]] = {}
        self.translator = StreamTranslator(session_id)

    # Lifecycle.

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._logging_out = False
        self._task = asyncio.create_task(self._run(), name=f"sim-session-{self.session_id}")

    async def stop(self) -> None:
        await self._halt()
        state = self._status.state if self._status else None
        if state is not SessionState.STOPPED and state not in TERMINAL:
            self._set_status(SessionState.STOPPED, Reason.REQUESTED)

    async def logout(self) -> None:
        self._logging_out = True
        if self._online:
            with contextlib.suppress(DriverError):
                await self._request({"type": "logout"})
            task = self._task
            if task is not None:  # the service answers, then says logged_out and closes
                await asyncio.wait({task}, timeout=self.driver.request_timeout_s)
        await self._halt()
        if self._status is None or self._status.state is not SessionState.LOGGED_OUT:
            await self._unlink_while_offline()
            self._set_status(SessionState.LOGGED_OUT, Reason.REQUESTED)
        await asyncio.to_thread(device_store.delete, self.store)
        self._credentials = None

    async def _unlink_while_offline(self) -> None:
        """Connects just long enough to unlink, so the phone forgets the device too."""
        credentials = self._credentials or await asyncio.to_thread(device_store.load, self.store)
        if credentials is None:
            return
        hello = {"type": "hello", "device_id": credentials.device_id, "token": credentials.token}
        try:
            async with (
                asyncio.timeout(self.driver.request_timeout_s),
                self.driver.http().ws_connect(self.driver.url + "/device") as ws,
            ):
                await ws.send_json(hello)
                await ws.send_json({"type": "logout", "id": 0})
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT and '"logged_out"' in message.data:
                        return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.log.warning("sim_logout_local_only", error=str(exc))

    async def _halt(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # Commands.

    async def pair_code(self, phone: str) -> PairCodeData:
        # Like WhatsApp, a code needs an open login window: wait for the first QR code.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.driver.request_timeout_s):
                while self._task is not None and not self._task.done() and self._settling():
                    self._status_changed.clear()
                    await self._status_changed.wait()
        if not self._offering_codes:
            raise DriverError("A pairing code can only be requested while a QR code is shown.")
        answer = await self._request({"type": "pair_code", "phone": phone}, online=False)
        self._pair_code_issued = True
        self._set_status(SessionState.QR, Reason.PAIR_CODE_ISSUED)
        expires_at = datetime.fromisoformat(answer["expires_at"])
        return PairCodeData(code=answer["code"], phone=phone, expires_at=expires_at)

    def _settling(self) -> bool:
        """Still on its way to QR codes or a connection."""
        state = self._status.state if self._status else None
        return state in {None, SessionState.STARTING, SessionState.RECONNECTING}

    async def send(self, command: SendCommand) -> SendResult:
        self._require_online()
        frame: dict[str, Any] = {"type": "send", "client_id": command.client_id, "to": command.to}
        if isinstance(command, SendText):
            frame.update(kind="text", text=command.text)
        elif isinstance(command, SendMedia):
            item = command.media
            data_b64 = item.data_b64 or await self._fetch(item.url or "")
            frame.update(
                kind=item.kind.value,
                media={
                    "mime": item.mime,
                    "filename": item.filename,
                    "caption": item.caption,
                    "duration_s": item.duration_s,
                    "data_b64": data_b64,
                },
            )
        else:
            frame.update(kind="reaction", reaction={"wa_id": command.wa_id, "emoji": command.emoji})
        if not isinstance(command, SendReaction) and command.quoted is not None:
            frame["quoted"] = {"wa_id": command.quoted.wa_id}
        echo = self.translator.echo
        answer = await self._request(frame, on_answer=lambda done: self.emit(echo(command, done)))
        at = from_ts(answer["ts"])
        return SendResult(client_id=command.client_id, status="sent", wa_id=answer["wa_id"], at=at)

    async def mark_read(self, command: MarkRead) -> None:
        await self._request({"type": "read", "chat": command.chat, "wa_ids": command.wa_ids})

    async def typing(self, command: SetTyping) -> None:
        await self._request({"type": "typing", "chat": command.chat, "state": command.state})

    async def presence(self, command: SetPresence) -> None:
        await self._request({"type": "presence", "available": command.available})

    async def _fetch(self, url: str) -> str:
        try:
            async with self.driver.http().get(
                url, timeout=aiohttp.ClientTimeout(total=self.driver.request_timeout_s)
            ) as response:
                response.raise_for_status()
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > MAX_MEDIA_BYTES:
                        raise DriverError("The file to send is too large.")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DriverError(f"Could not fetch the file to send: {exc}") from None
        return base64.b64encode(data).decode()

    def _require_online(self, online: bool = True) -> None:
        ws = self._ws
        if ws is None or ws.closed or (online and not self._online):
            state = self._status.state.value if self._status else "stopped"
            raise DriverError(f"Not connected to WhatsApp (simulated); the session is {state}.")

    async def _request(
        self,
        frame: dict[str, Any],
        *,
        online: bool = True,
        on_answer: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        self._require_online(online)
        request_id = next(self._request_ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = answer
        if on_answer is not None:
            self._on_answer[request_id] = on_answer
        try:
            await self._send({**frame, "id": request_id})
            async with asyncio.timeout(self.driver.request_timeout_s):
                result = await answer
        except TimeoutError:
            raise DriverError("WhatsApp (simulated) did not answer in time.") from None
        except ConnectionError:
            raise DriverError("The connection to WhatsApp (simulated) was lost.") from None
        finally:
            self._requests.pop(request_id, None)
            self._on_answer.pop(request_id, None)
        if not result.get("ok"):
            raise DriverError(str(result.get("error") or "WhatsApp (simulated) refused this."))
        return result

    async def _send(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionResetError("not connected")
        async with self._send_lock:
            await ws.send_str(json.dumps(frame, separators=(",", ":")))

    # The connection.

    async def _run(self) -> None:
        try:
            await self._connect_until_final()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception("sim_session_failed")
            self._set_status(SessionState.FAILED, Reason.ERROR, detail=str(exc))

    async def _connect_until_final(self) -> None:
        self._credentials = await asyncio.to_thread(device_store.load, self.store)
        self._was_online = False
        restored = self._credentials is not None
        self._set_status(SessionState.STARTING, Reason.RESTORED if restored else Reason.NEW)
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(self.driver.request_timeout_s):
                    ws = await self.driver.http().ws_connect(
                        self.driver.url + "/device",
                        heartbeat=self.driver.heartbeat_s,
                        max_msg_size=MAX_FRAME_BYTES,
                    )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = Reason.CONNECT_FAILED
                self.log.info("sim_connect_failed", error=str(exc))
            else:
                if await self._converse(ws) is _End.FINAL:
                    return
                reason = Reason.NETWORK
                if self._answered:  # it worked for a while: start the backoff over
                    attempt = 0
            delay = self.driver.backoff(attempt)
            attempt += 1
            self._set_status(SessionState.RECONNECTING, reason, retry_in_s=delay)
            await asyncio.sleep(delay)

    async def _converse(self, ws: aiohttp.ClientWebSocketResponse) -> _End:
        self._ws, self._online, self._answered = ws, False, False
        try:
            hello: dict[str, Any] = {"type": "hello", "last_seq": self._last_seq}
            if self._credentials is not None:
                hello.update(device_id=self._credentials.device_id, token=self._credentials.token)
            await self._send(hello)
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                self._answered = True
                if await self._on_frame(json.loads(message.data)) is _End.FINAL:
                    return _End.FINAL
            return _End.DROPPED
        except ConnectionError:
            return _End.DROPPED
        finally:
            self._ws, self._online = None, False
            self._offering_codes = False
            for answer in self._requests.values():
                if not answer.done():
                    answer.set_exception(ConnectionResetError("connection lost"))
            await ws.close()

    async def _on_frame(self, frame: dict[str, Any]) -> _End | None:
        kind = frame.get("type")
        if kind == "batch":
            await self._on_batch(frame["items"])
        elif kind == "result":
            request_id = frame.get("id", -1)
            answer = self._requests.get(request_id)
            if answer is not None and not answer.done():
                callback = self._on_answer.pop(request_id, None)
                if callback is not None and frame.get("ok"):
                    try:
                        callback(frame)
                    except Exception:
                        self.log.exception("sim_answer_handler_failed")
                answer.set_result(frame)
        elif kind == "qr":
            self._on_qr(frame)
        elif kind == "paired":
            await self._on_paired(frame)
        elif kind == "connected":
            self._on_connected(frame)
        elif kind == "qr_timeout":
            self._set_status(SessionState.STOPPED, Reason.QR_EXPIRED)
            return _End.FINAL
        elif kind == "logged_out":
            await asyncio.to_thread(device_store.delete, self.store)
            self._credentials = None
            reason = Reason.REQUESTED if self._logging_out else Reason.UNLINKED
            self.log.info("sim_logged_out", why=frame.get("reason"))
            self._set_status(SessionState.LOGGED_OUT, reason)
            return _End.FINAL
        elif kind == "replaced":
            self._set_status(SessionState.REPLACED, Reason.OTHER_CLIENT)
            return _End.FINAL
        return None

    async def _on_batch(self, items: list[dict[str, Any]]) -> None:
        emit, translate, last = self.emit, self.translator.events, self._last_seq
        for item in items:
            seq = item["seq"]
            if seq <= last:  # already processed before a reconnection
                continue
            if item.get("t") == "msg" and item.get("media") and self.driver.save_media:
                item = {**item, "media": await self._download(item["media"])}
            for event in translate(item):
                emit(event)
            last = seq
        self._last_seq = last
        # Acknowledge only what the gateway has stored: a host killed before that gets the
        # items again from the service instead of losing them.
        await self.durable()
        await self._send({"type": "ack", "seq": last})

    async def _download(self, media: dict[str, Any]) -> dict[str, Any]:
        """The item's media with ``key`` (and the stored file's sha256 and size) once it is
        saved; unchanged, with the failure logged, when it cannot be: the message still goes."""
        save = self.driver.save_media
        sha = str(media.get("sha256") or media.get("id") or "")
        if save is None or not sha:
            return media
        limit = self.driver.max_media_bytes
        try:
            timeout = aiohttp.ClientTimeout(total=self.driver.media_timeout_s)
            async with self.driver.http().get(
                f"{self.driver.url}/media/{sha}", timeout=timeout
            ) as response:
                response.raise_for_status()
                if (response.content_length or 0) > limit:
                    raise DriverError(f"larger than {limit} bytes")
                data = bytearray()
                async for chunk in response.content.iter_chunked(256 * 1024):
                    data += chunk
                    if len(data) > limit:
                        raise DriverError(f"larger than {limit} bytes")
            key = await save(bytes(data), media.get("mime"), media.get("filename"))
        except (aiohttp.ClientError, TimeoutError, OSError, DriverError) as exc:
            self.log.warning("sim_media_not_downloaded", sha256=sha, error=str(exc)[:200])
            return media
        return {**media, "key": key, "sha256": key, "size": len(data)}

    def _on_qr(self, frame: dict[str, Any]) -> None:
        if not self._offering_codes:
            self._offering_codes, self._pair_code_issued = True, False
        reason = Reason.PAIR_CODE_ISSUED if self._pair_code_issued else Reason.WAITING_FOR_SCAN
        self._set_status(SessionState.QR, reason)
        code = QRData(
            code=frame["code"],
            index=frame["index"],
            expires_at=datetime.fromisoformat(frame["expires_at"]),
        )
        self.emit(SessionQREvent(session_id=self.session_id, data=code))

    async def _on_paired(self, frame: dict[str, Any]) -> None:
        credentials = DeviceCredentials(
            device_id=frame["device_id"],
            token=frame["token"],
            phone=frame["phone"],
            jid=frame["jid"],
            lid=frame["lid"],
            push_name=frame["push_name"],
        )
        # Written before anything else: a crash from here on must not cost the link.
        await asyncio.to_thread(device_store.save, self.store, credentials)
        self._credentials, self._last_seq = credentials, 0
        self._offering_codes, self._just_paired = False, True
        self.log.info("sim_paired", phone=credentials.phone)
        self._set_status(SessionState.PAIRING, Reason.PAIRED)

    def _on_connected(self, frame: dict[str, Any]) -> None:
        if self._just_paired:
            reason = Reason.PAIRED
        elif self._was_online:
            reason = Reason.ONLINE
        else:
            reason = Reason.RESTORED
        self._just_paired, self._was_online = False, True
        self._online = True
        credentials = self._credentials
        if credentials is not None:  # always: "paired" or a stored file came first
            me = own_peer(credentials.phone, credentials.lid, credentials.push_name)
            self.translator.me = me
        self._set_status(
            SessionState.CONNECTED,
            reason,
            jid=frame["jid"],
            phone=frame["phone"],
            name=frame["push_name"],
        )

    def _set_status(
        self, state: SessionState, reason: Reason, *, detail: str | None = None, **fields: Any
    ) -> None:
        """Emits a status once per change: the same status twice in a row is said once."""
        status = StatusData(
            state=state, reason=reason, detail=detail or describe(state, reason), **fields
        )
        if status == self._status:
            return
        self._status = status
        self._status_changed.set()
        self.log.info("sim_status", state=state.value, reason=reason.value)
        self.emit(SessionStatusEvent(session_id=self.session_id, data=status))
