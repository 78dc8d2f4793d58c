"""Channels: the linked WhatsApp numbers, proxied to the gateway's session API.

The ``channels`` table is what the desk knows (kept current by the gateway's events); the
gateway's ``GET /sessions`` is the live truth, merged in when it can be reached.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select

from core import keys
from core.api.routing import ANY_USER, STAFF, Api, Call
from core.gateway_client import GATEWAY, GatewayClient, GatewayRefused, GatewayUnavailable
from core.realtime.bus import Notice, serialized
from core.storage.models import Channel, Conversation
from core.views import ChannelOut
from sessions.events import PairCodeData, QRData
from sessions.ids import new_ulid
from zapdesk.errors import Conflict, NotFound

api = Api()
TAGS = ("channels",)


class ChannelView(ChannelOut):
    """A channel with the gateway's live view of its session, when known."""

    detail: str | None = Field(None, description="The session's state in a sentence.")
    connected_since: datetime | None = None
    live: bool = Field(False, description="The state is the gateway's (not the stored one).")


class ChannelList(BaseModel):
    items: list[ChannelView]
    gateway_reachable: bool = Field(description="false: the states shown are the last stored.")


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    session_id: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="The gateway's session id. Generated when absent.",
    )


class PairCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(pattern=r"^[1-9][0-9]{7,14}$", description="International, digits only.")


class QRQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "png", "svg"] = "json"


def merged(channel: Channel, live: dict[str, Any] | None) -> ChannelView:
    stored = ChannelOut.of(channel).model_dump()
    if live is None:
        return ChannelView.model_validate(stored)
    # Validated, not assigned: the gateway's times arrive as ISO text.
    return ChannelView.model_validate(
        {
            **stored,
            "status": str(live.get("state") or stored["status"]),
            "status_reason": live.get("reason"),
            "phone": live.get("phone") or stored["phone"],
            "jid": live.get("jid") or stored["jid"],
            "detail": live.get("detail"),
            "connected_since": live.get("connected_since"),
            "live": True,
        }
    )


async def _live_sessions(gateway: GatewayClient) -> dict[str, dict[str, Any]] | None:
    try:
        reply = await gateway.call("GET", "/sessions", timeout_s=5)
    except (GatewayUnavailable, GatewayRefused):
        return None
    return {str(s["id"]): s for s in reply.json().get("sessions", [])}


async def _channel(call: Call[Any, Any]) -> Channel:
    async with call.db() as db:
        channel = await db.get(Channel, call.int_param("id"))
    if channel is None:
        raise NotFound(f"No channel {call.param('id')}.")
    return channel


@api.operation(
    "GET", "/channels", summary="Linked numbers", roles=ANY_USER, response=ChannelList, tags=TAGS
)
async def list_channels(call: Call[None, None]) -> ChannelList:
    """Answers the stored states with `gateway_reachable: false` when the gateway is down."""
    async with call.db() as db:
        channels = list(await db.scalars(select(Channel).order_by(Channel.id)))
    live = await _live_sessions(call.request.app[GATEWAY])
    items = [merged(c, None if live is None else live.get(c.session_id)) for c in channels]
    return ChannelList(items=items, gateway_reachable=live is not None)


@api.operation(
    "POST",
    "/channels",
    summary="Link a new number",
    roles=STAFF,
    body=ChannelIn,
    response=ChannelView,
    status=201,
    tags=TAGS,
)
async def create_channel(call: Call[ChannelIn, None]) -> ChannelView:
    """Creates the gateway session (which then shows QR codes) and the channel."""
    session_id = call.body.session_id or f"wa-{new_ulid().lower()}"
    async with call.db.begin() as db:
        if await db.scalar(select(Channel.id).where(Channel.session_id == session_id)):
            raise Conflict(
                f"A channel already uses session {session_id}.",
                details={"session_id": session_id},
            )
        # Stored first: the session's first events may reach core before the gateway answers.
        channel = Channel(session_id=session_id, name=call.body.name.strip(), status="stopped")
        db.add(channel)
    gateway = call.request.app[GATEWAY]
    try:
        reply = await gateway.call("POST", "/sessions", {"id": session_id, "name": channel.name})
    except (GatewayUnavailable, GatewayRefused):
        async with call.db.begin() as db:
            await db.execute(delete(Channel).where(Channel.id == channel.id))
        raise
    view = merged(channel, reply.json())
    await call.request.app[keys.BUS].publish(
        [Notice("sessions", "session.updated", serialized(ChannelOut.of(channel)))]
    )
    return view


@api.operation(
    "GET",
    "/channels/{id}/qr",
    summary="The QR code to link the number",
    roles=STAFF,
    query=QRQuery,
    response=QRData,
    tags=TAGS,
)
async def channel_qr(call: Call[None, QRQuery]) -> QRData | web.Response:
    """JSON by default; `?format=png` or `svg` answers the image to show."""
    channel = await _channel(call)
    gateway = call.request.app[GATEWAY]
    fmt: str = call.query.format
    query = None if fmt == "json" else {"format": fmt}
    reply = await gateway.call("GET", gateway.session_path(channel.session_id, "qr"), query=query)
    headers = {"Cache-Control": "no-store"}
    if query is not None:
        return web.Response(body=reply.body, content_type=reply.content_type, headers=headers)
    return QRData.model_validate(reply.json())


@api.operation(
    "POST",
    "/channels/{id}/pair-code",
    summary="Link the number with a code typed on the phone",
    roles=STAFF,
    body=PairCodeIn,
    response=PairCodeData,
    tags=TAGS,
)
async def channel_pair_code(call: Call[PairCodeIn, None]) -> PairCodeData:
    channel = await _channel(call)
    gateway = call.request.app[GATEWAY]
    path = gateway.session_path(channel.session_id, "pair-code")
    reply = await gateway.call("POST", path, {"phone": call.body.phone})
    return PairCodeData.model_validate(reply.json())


async def _session_action(call: Call[None, None], action: str) -> ChannelView:
    channel = await _channel(call)
    gateway = call.request.app[GATEWAY]
    reply = await gateway.call("POST", gateway.session_path(channel.session_id, action))
    return merged(channel, reply.json())


@api.operation(
    "POST",
    "/channels/{id}/restart",
    summary="Restart the number's session",
    roles=STAFF,
    response=ChannelView,
    tags=TAGS,
)
async def restart_channel(call: Call[None, None]) -> ChannelView:
    return await _session_action(call, "restart")


@api.operation(
    "POST",
    "/channels/{id}/logout",
    summary="Unlink the number (it must be linked again with a QR code)",
    roles=STAFF,
    response=ChannelView,
    tags=TAGS,
)
async def logout_channel(call: Call[None, None]) -> ChannelView:
    return await _session_action(call, "logout")


@api.operation(
    "DELETE", "/channels/{id}", summary="Forget a number", roles=STAFF, status=204, tags=TAGS
)
async def delete_channel(call: Call[None, None]) -> None:
    """Only a channel without conversations: deleting one would delete its history (log it
    out instead, `channel_in_use`)."""
    channel = await _channel(call)
    async with call.db() as db:
        used = await db.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.channel_id == channel.id)
        )
    if used:
        raise ChannelInUse(
            "This number has conversations; log it out instead of deleting it.",
            details={"conversations": used},
        )
    gateway = call.request.app[GATEWAY]
    try:
        await gateway.call("DELETE", gateway.session_path(channel.session_id))
    except GatewayRefused as exc:
        if exc.gateway_status != 404:  # already gone at the gateway: forget it here too
            raise
    async with call.db.begin() as db:
        await db.execute(delete(Channel).where(Channel.id == channel.id))


class ChannelInUse(Conflict):
    code, status, default_message = "channel_in_use", 409, "This channel is in use."
