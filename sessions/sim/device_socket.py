"""``GET /device``: one linked device's websocket (protocol in ``sessions.sim.protocol``).

The handler reads requests; one writer task per socket writes everything else (control frames
first, then the device's stream in batches), so writes never interleave and a simulated
latency delays every frame the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from sessions.sim import linking, traffic
from sessions.sim.frames import (
    REQUEST,
    Ack,
    Hello,
    LogoutRequest,
    PairCodeRequest,
    PresenceRequest,
    ReadRequest,
    SendRequest,
    TypingRequest,
)
from sessions.sim.linking import frame
from sessions.sim.protocol import from_ts, iso
from sessions.sim.state import Link, World
from zapdesk.errors import NotReady, ZapdeskError

log = structlog.get_logger("zapdesk.sim")
WORLD = web.AppKey("sim_world", World)
WRITER_GRACE_S = 2.0


async def device_socket(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    if world.in_outage():
        raise NotReady("WhatsApp (simulated) is unavailable: an outage is in progress.")
    ws = web.WebSocketResponse(
        compress=False, heartbeat=30.0, max_msg_size=world.config.max_media_bytes * 2
    )
    await ws.prepare(request)
    link = Link()
    world.links.add(link)
    writer = asyncio.create_task(write_frames(ws, world, link), name="sim-device-writer")
    try:
        hello = await _hello(ws, world)
        if hello is None:
            link.close(WSCloseCode.POLICY_VIOLATION)
        elif hello.device_id and hello.token:
            linking.restore(world, link, hello.device_id, hello.token, hello.last_seq)
        else:
            linking.start_login(world, link)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            if world.latency_s:
                await asyncio.sleep(world.latency_s)
            _handle(world, link, message.data)
    finally:
        pending_window = link.pending.task if link.pending is not None else None
        linking.detach(world, link)
        await _finish(writer, link, ws)
        if pending_window is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await pending_window
    return ws


async def _hello(ws: web.WebSocketResponse, world: World) -> Hello | None:
    try:
        message = await ws.receive(timeout=world.config.hello_timeout_s)
    except TimeoutError:
        return None
    if message.type != WSMsgType.TEXT:
        return None
    try:
        return Hello.model_validate_json(message.data)
    except ValidationError:
        return None


async def _finish(writer: asyncio.Task[None], link: Link, ws: web.WebSocketResponse) -> None:
    """Lets the writer flush what is queued (a goodbye frame, say), but not for long."""
    if not ws.closed:
        link.close(WSCloseCode.GOING_AWAY)
        await asyncio.wait({writer}, timeout=WRITER_GRACE_S)
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer


async def write_frames(ws: web.WebSocketResponse, world: World, link: Link) -> None:
    try:
        while True:
            if link.control:
                await _delay(world)
                await ws.send_str(link.control.popleft())
                continue
            if link.close_code is not None:
                # Before the stream: what is not written yet waits for the next connection.
                await ws.close(code=link.close_code)
                return
            device = link.device
            if device is not None and device.link is link:
                items = device.items_after(link.sent_upto, world.config.batch_size)
                if items:
                    link.sent_upto = items[-1]["seq"]
                    await _delay(world)
                    await ws.send_str(json.dumps({"type": "batch", "items": items}))
                    continue
            await link.wake.wait()
            link.wake.clear()
    except ConnectionError:
        # The device went away mid-write; unacknowledged items stay queued for next time.
        return


async def _delay(world: World) -> None:
    if world.latency_s:
        await asyncio.sleep(world.latency_s)


def _handle(world: World, link: Link, raw: str) -> None:
    try:
        request = REQUEST.validate_json(raw)
    except ValidationError as exc:
        request_id = _request_id(raw)
        if request_id is not None:
            link.send(frame(type="result", id=request_id, ok=False, error=_first_error(exc)))
        return
    if isinstance(request, Ack):
        if link.device is not None:
            traffic.acknowledge(world, link.device, request.seq)
        return
    try:
        answer = _answer(world, link, request)
    except ZapdeskError as exc:
        link.send(frame(type="result", id=request.id, ok=False, error=exc.message))
        return
    link.send(frame(type="result", id=request.id, ok=True, **answer))
    if isinstance(request, LogoutRequest) and link.device is not None:
        linking.unlink(world, link.device, "logged_out_by_device")


def _answer(
    world: World,
    link: Link,
    request: PairCodeRequest
    | SendRequest
    | ReadRequest
    | TypingRequest
    | PresenceRequest
    | LogoutRequest,
) -> dict[str, Any]:
    if isinstance(request, PairCodeRequest):
        return linking.issue_pair_code(world, link, request.phone)
    device = link.device
    if device is None:
        raise NotReady("This device is not linked yet.")
    if isinstance(request, SendRequest):
        result = traffic.desk_send(world, device, request)
        return {**result, "at": iso(from_ts(result["ts"]))}
    if isinstance(request, ReadRequest):
        traffic.desk_read(world, device, request.chat, request.wa_ids)
    elif isinstance(request, TypingRequest):
        traffic.desk_typing(world, device, request.chat, request.state)
    elif isinstance(request, PresenceRequest):
        traffic.account(world, device.phone).available = request.available
    return {}


def _request_id(raw: str) -> int | None:
    try:
        value = json.loads(raw).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def close_all(world: World, code: int = WSCloseCode.GOING_AWAY) -> None:
    """Drops every device socket (an outage, or the service shutting down)."""
    for link in list(world.links):
        link.close(code)
