"""One open websocket: who is behind it, what it follows, and its bounded send queue.

The hub puts frames on the queue without waiting; one writer task per socket takes them off
and writes them. A full queue means the browser is not keeping up: the hub closes it rather
than letting it hold the fan-out (and every other socket) back.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

import structlog
from aiohttp import web

from core.auth.visibility import Viewer
from core.realtime.bus import Envelope, Notice

log = structlog.get_logger("core.realtime")

# What the hub sends: a frame's JSON, or a batch of them (a replay) that must go out whole and
# in order. On the queue it is already framed for the wire: one slot, the same bytes for every
# socket that gets a notice.
Item = bytes | list[bytes]

_FLUSH_POLL = 0.02
# The writer sends what is queued in one write of at most this much (fewer system calls when a
# burst of notices is fanned out), and waits while the socket's buffer holds more than this.
_COALESCE = 64 * 1024
_DRAIN_POLL = 0.005


def text_frame(payload: bytes) -> bytes:
    """A whole server-to-client websocket text frame (RFC 6455 5.2: FIN, not masked)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        viewer: Viewer,
        *,
        send_queue: int,
        resume_from: int | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.viewer = viewer
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(send_queue)
        self.topics: set[str] = set()
        self.resume_from = resume_from  # ?last_seq=N: replay at the first subscribe
        # Until the client says where it stands (its first subscribe or a resume), the hub
        # holds what it publishes here instead of sending it.
        self.held: list[Envelope] | None = []
        self.held_overflow = False
        self.positioned = False
        # Notices up to ``low`` were published before this socket followed the fan-out (a
        # resume replays those); None until the first notice after it opened.
        self.low: int | None = None
        # Notices up to ``floor`` were replayed or seen by the client: the fan-out skips them.
        self.floor = 0
        self.closing = False
        self._writer: asyncio.Task[None] | None = None

    def wants(self, notice: Notice) -> bool:
        return notice.topic in self.topics and self.viewer.may_see(notice)

    def hold(self, envelope: Envelope, limit: int) -> None:
        if self.held is None or self.held_overflow:
            return
        if len(self.held) >= limit:
            self.held.clear()
            self.held_overflow = True  # it will get a resync instead
            return
        self.held.append(envelope)

    def offer(self, framed: bytes) -> bool:
        """Queues wire bytes (``framed``) without waiting; False when the queue is full."""
        if self.closing:
            return True
        try:
            self.queue.put_nowait(framed)
        except asyncio.QueueFull:
            return False
        return True

    # The writer.

    def start_writer(self) -> None:
        self._writer = asyncio.create_task(
            self._write(), name=f"ws-writer-{self.viewer.user_id}-{id(self):x}"
        )

    async def stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer

    async def _write(self) -> None:
        """Takes everything queued, frames it, and writes it to the socket at once.

        The frames are built here rather than by aiohttp's writer (one system call per frame)
        because the hub fans out each notice to every socket: in a burst, one write per socket
        carries many frames. The socket is not compressed (``compress=False``), so a frame is
        just a header and the bytes."""
        transport = self.transport
        if transport is None:  # pragma: no cover - aiohttp always has one for a live socket
            return
        try:
            while True:
                chunks = [await self.queue.get()]
                size = len(chunks[0])
                while size < _COALESCE and not self.queue.empty():
                    chunks.append(self.queue.get_nowait())
                    size += len(chunks[-1])
                if transport.is_closing():
                    return
                transport.write(b"".join(chunks))
                # A transport has no "drained" event to wait on; a full one means the peer
                # reads slowly, and meanwhile the queue fills until the hub drops it.
                while transport.get_write_buffer_size() > _COALESCE:
                    if transport.is_closing():
                        return
                    await asyncio.sleep(_DRAIN_POLL)
        except ConnectionError:
            return  # the socket is going away; its reader loop sees that and ends

    # Closing, from the hub (a slow client, shutdown).

    async def close(self, code: int, reason: str, grace: float) -> None:
        """Says goodbye with ``code``; a peer that does not read within ``grace`` is cut off."""
        self.closing = True
        await self.stop_writer()
        try:
            async with asyncio.timeout(grace):
                # drain=False: a stalled peer must not hold this up; the close frame goes
                # after what is already buffered, and the transport flushes it if it can.
                await self.ws.close(code=code, message=reason.encode(), drain=False)
                # A transport has no "flushed" event to wait on.
                while self.transport is not None and self.transport.get_write_buffer_size():  # noqa: ASYNC110
                    await asyncio.sleep(_FLUSH_POLL)
        except TimeoutError:
            log.info("ws_cut", user_id=self.viewer.user_id, code=code)
        finally:
            if self.transport is not None and self.transport.get_write_buffer_size():
                self.transport.abort()


def framed(item: Item) -> bytes:
    """``item`` as it goes on the wire."""
    if isinstance(item, bytes):
        return text_frame(item)
    return b"".join(map(text_frame, item))
