"""The gateway's HTTP API (token-protected): sessions, QR codes, pairing, sending, media.

Core is its main client; an operator can use it with curl and the gateway token.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
from datetime import UTC, datetime
from typing import Any

import qrcode
import qrcode.image.svg
from aiohttp import web
from pydantic import BaseModel, Field, TypeAdapter

from gateway import keys
from gateway.media import MediaStore
from sessions.commands import (
    SEND,
    MarkRead,
    SetPresence,
    SetTyping,
)
from sessions.events import QRData
from zapdesk.errors import NotFound, Unauthorized, ValidationFailed
from zapdesk.web import Handler, read_json

routes = web.RouteTableDef()
OPEN_PATHS = frozenset({"/healthz", "/metrics"})


class NewSession(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=80)


class PairCodeRequest(BaseModel):
    phone: str = Field(pattern=r"^[1-9][0-9]{7,14}$")


NEW_SESSION = TypeAdapter(NewSession)
PAIR_CODE = TypeAdapter(PairCodeRequest)
READ = TypeAdapter(MarkRead)
TYPING = TypeAdapter(SetTyping)
PRESENCE = TypeAdapter(SetPresence)


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in OPEN_PATHS:
        return await handler(request)
    token = request.app[keys.SETTINGS].services.gateway_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    expected = token.get_secret_value() if token is not None else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("Send the gateway token as 'Authorization: Bearer <token>'.")
    return await handler(request)


def _session_id(request: web.Request) -> str:
    return request.match_info["session_id"]


@routes.get("/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    supervisor = request.app[keys.SUPERVISOR]
    rows = await supervisor.registry.all()
    return web.json_response({"sessions": [supervisor.view(row) for row in rows]})


@routes.post("/sessions")
async def create_session(request: web.Request) -> web.Response:
    body = await read_json(request, NEW_SESSION)
    supervisor = request.app[keys.SUPERVISOR]
    row = await supervisor.create(body.id, body.name)
    return web.json_response(supervisor.view(row), status=201)


@routes.get("/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    supervisor = request.app[keys.SUPERVISOR]
    return web.json_response(supervisor.view(await supervisor.row(_session_id(request))))


def render_qr(code: str, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "svg":
        qrcode.make(code, image_factory=qrcode.image.svg.SvgPathImage).save(out)
    else:
        qrcode.make(code).save(out)
    return out.getvalue()


@routes.get("/sessions/{session_id}/qr")
async def get_qr(request: web.Request) -> web.Response:
    """The current QR code: JSON (raw code, index, expiry), or ``?format=png|svg`` to show."""
    supervisor = request.app[keys.SUPERVISOR]
    session_id = _session_id(request)
    await supervisor.row(session_id)
    qr: QRData | None = supervisor.qr(session_id)
    if qr is None:
        live = supervisor.live.get(session_id)
        state = live.state.value if live else "stopped"
        raise NotFound(
            f"No QR code to show: the session is {state}.",
            details={"state": state},
        )
    fmt = request.query.get("format", "json")
    headers = {"Cache-Control": "no-store"}
    if fmt in ("png", "svg"):
        image = await asyncio.to_thread(render_qr, qr.code, fmt)
        content_type = "image/svg+xml" if fmt == "svg" else "image/png"
        return web.Response(body=image, content_type=content_type, headers=headers)
    return web.json_response(qr.model_dump(mode="json"), headers=headers)


@routes.post("/sessions/{session_id}/pair-code")
async def pair_code(request: web.Request) -> web.Response:
    body = await read_json(request, PAIR_CODE)
    result = await request.app[keys.SUPERVISOR].pair_code(_session_id(request), body.phone)
    return web.json_response(result.model_dump(mode="json"))


@routes.post("/sessions/{session_id}/restart")
async def restart(request: web.Request) -> web.Response:
    supervisor = request.app[keys.SUPERVISOR]
    await supervisor.restart(_session_id(request))
    return web.json_response(supervisor.view(await supervisor.row(_session_id(request))))


@routes.post("/sessions/{session_id}/logout")
async def logout(request: web.Request) -> web.Response:
    supervisor = request.app[keys.SUPERVISOR]
    await supervisor.logout(_session_id(request))
    return web.json_response(supervisor.view(await supervisor.row(_session_id(request))))


@routes.delete("/sessions/{session_id}")
async def delete_session(request: web.Request) -> web.Response:
    await request.app[keys.SUPERVISOR].delete(_session_id(request))
    return web.Response(status=204)


@routes.post("/sessions/{session_id}/messages")
async def send_message(request: web.Request) -> web.Response:
    """Idempotent on ``client_id``: a repeated request answers the first result, sends nothing."""
    command = await read_json(request, SEND)
    result = await request.app[keys.SUPERVISOR].send(_session_id(request), command)
    return web.json_response(result.model_dump(mode="json"))


async def _simple(request: web.Request, adapter: TypeAdapter[Any]) -> web.Response:
    command = await read_json(request, adapter)
    await request.app[keys.SUPERVISOR].command(_session_id(request), command)
    return web.Response(status=204)


@routes.post("/sessions/{session_id}/read")
async def mark_read(request: web.Request) -> web.Response:
    return await _simple(request, READ)


@routes.post("/sessions/{session_id}/typing")
async def typing(request: web.Request) -> web.Response:
    return await _simple(request, TYPING)


@routes.post("/sessions/{session_id}/presence")
async def presence(request: web.Request) -> web.Response:
    return await _simple(request, PRESENCE)


@routes.get("/stats")
async def stats(request: web.Request) -> web.Response:
    """The figures of ``/metrics`` as JSON, with each session's state history (monitoring)."""
    return web.json_response(
        request.app[keys.COLLECTOR].stats(), headers={"Cache-Control": "no-store"}
    )


@routes.get("/outbox/parked")
async def parked(request: web.Request) -> web.Response:
    """Events core refused (e.g. 422), kept aside with core's answer; nothing is dropped."""
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), 1000)
    except ValueError:
        raise ValidationFailed("limit must be a whole number.") from None
    items = await request.app[keys.OUTBOX].parked(limit)
    return web.json_response(
        {
            "parked": [
                {
                    "seq": item.event.seq,
                    "id": item.event.id,
                    "session_id": item.event.session_id,
                    "type": item.event.type,
                    "status": item.status,
                    "reason": item.reason,
                    "parked_at": datetime.fromtimestamp(item.parked_at, UTC).isoformat(),
                    "event": json.loads(item.event.body),
                }
                for item in items
            ]
        }
    )


@routes.post("/outbox/parked/{seq}/retry")
async def retry_parked(request: web.Request) -> web.Response:
    """Puts a parked event back in line, after its cause was fixed in core."""
    try:
        seq = int(request.match_info["seq"])
    except ValueError:
        raise NotFound("No such parked event.") from None
    if not await request.app[keys.OUTBOX].retry_parked(seq):
        raise NotFound("No such parked event.")
    return web.Response(status=204)


@routes.get("/media/{key}")
async def get_media(request: web.Request) -> web.FileResponse:
    """A file a customer sent, by the ``Media.key`` of its event (the hex SHA-256)."""
    store = MediaStore(request.app[keys.SETTINGS].runtime.data_dir / "media")
    found = await asyncio.to_thread(store.find, request.match_info["key"])
    headers = {"Content-Type": found.mime, "Cache-Control": "private, max-age=86400"}
    return web.FileResponse(found.path, headers=headers)
