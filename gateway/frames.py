"""Frames between the supervisor and its session hosts: a 4-byte big-endian length, then JSON.

Down (supervisor → host):
* ``{"op": "start" | "stop", "req", "session_id"}``,
  ``{"op": "call", "req", "session_id", "command": <sessions.commands.Command>}``,
  ``{"op": "ping", "req"}``, ``{"op": "shutdown", "req"}``: each answered by one ``reply``;
* ``{"op": "stored", "upto": n}``: the host's events up to ``n`` are in the outbox (no reply).

Up (host → supervisor):
* ``{"op": "hello", "pid", "driver", "capacity"}`` once at start;
* ``{"op": "events", "upto": n, "events": [<sessions.events.Event>, ...]}`` whenever sessions
  produce events (batched; ``n`` counts the events the host has emitted so far);
* ``{"op": "reply", "req", "ok": true, "result": ...}`` or
  ``{"op": "reply", "req", "ok": false, "error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Iterable
from typing import Any

MAX_FRAME = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")

Frame = dict[str, Any]


class FrameError(Exception):
    """The other side sent something that is not a frame; the stream cannot be trusted."""


def encode(frame: Frame) -> bytes:
    body = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()
    return _LENGTH.pack(len(body)) + body


def encode_events(events_json: Iterable[str], upto: int = 0) -> bytes:
    """An ``events`` frame from events already serialized once (no second encoding)."""
    body = (f'{{"op":"events","upto":{upto},"events":[' + ",".join(events_json) + "]}").encode()
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or None when the stream ended cleanly between frames."""
    try:
        header = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("stream ended inside a frame header") from None
        return None
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME:
        raise FrameError(f"frame of {length} bytes is larger than {MAX_FRAME}")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FrameError("stream ended inside a frame") from None
    try:
        frame = json.loads(body)
    except ValueError as exc:
        raise FrameError(f"frame is not JSON: {exc}") from None
    if not isinstance(frame, dict) or "op" not in frame:
        raise FrameError("frame has no op")
    return frame
