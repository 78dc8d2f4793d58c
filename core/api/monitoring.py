"""The monitoring panel's data: every number's session, the gateway and this core replica.

One call answers it all, so the panel refreshes with a single request. The session history
and the gateway's figures come from the gateway's ``GET /stats``; when the gateway cannot be
reached the answer says so (``gateway_reachable: false``) and shows what core knows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from core.api.routing import ADMIN, Api, Call
from core.gateway_client import GATEWAY, GatewayClient, GatewayRefused, GatewayUnavailable
from core.monitoring import (
    CORE_MINUTES,
    MONITOR,
    TRAFFIC_MINUTES,
    Traffic,
    traffic_by_channel,
)
from core.realtime.hub import HUB
from core.storage.models import Channel

api = Api()
TAGS = ("monitoring",)


class StateChange(BaseModel):
    at: datetime
    state: str
    reason: str | None = None


class SessionStats(BaseModel):
    """One session as the gateway's supervisor sees it (memory only: empty after a restart)."""

    id: str
    state: str
    reason: str | None = None
    since: datetime | None = None
    reconnects: int = 0
    last_event_at: datetime | None = None
    last_event_age_s: float | None = None
    timeline: list[StateChange] = Field(default_factory=list)


class GatewayStats(BaseModel):
    hosts: int = Field(description="Session-host processes running.")
    host_restarts: int = Field(description="Hosts restarted after dying or hanging.")
    outbox_depth: int = Field(description="Events waiting for delivery to core.")
    outbox_oldest_age_s: float = Field(description="Age of the oldest of those events.")
    parked: int = Field(description="Events core refused, kept aside.")
    delivered: int = 0
    latency_p50_s: float = Field(description="Event time to core's acknowledgement, median.")
    latency_p99_s: float
    events_in: dict[str, int] = Field(description="Events received from sessions, by type.")


class _GatewayReply(GatewayStats):
    sessions: list[SessionStats] = Field(default_factory=list)


class ChannelMonitor(BaseModel):
    id: int
    name: str
    phone: str | None
    session_id: str
    state: str = Field(description="The gateway's, or the last stored when it is unreachable.")
    since: datetime | None = Field(description="When the current state began.")
    reconnects: int | None = Field(description="Since the gateway started; null: unknown.")
    last_event_age_s: float | None = Field(description="Seconds since the session's last event.")
    timeline: list[StateChange] = Field(description="Recent state changes, oldest first.")
    messages_in: list[int] = Field(description="Per minute, oldest first, this minute last.")
    messages_out: list[int] = Field(description="Per minute, oldest first, this minute last.")


class CoreStats(BaseModel):
    """This replica's figures (each replica counts its own)."""

    ingest_per_minute: list[int] = Field(description="Gateway events received per minute.")
    errors_per_minute: list[int] = Field(description="Answers with a status >= 500 per minute.")
    websocket_clients: int = Field(description="Open websockets on this replica.")


class MonitoringOut(BaseModel):
    at: datetime
    traffic_minutes: int = Field(description="How many minutes the message series cover.")
    core_minutes: int = Field(description="How many minutes the core series cover.")
    channels: list[ChannelMonitor]
    gateway_reachable: bool
    gateway: GatewayStats | None = Field(description="null when the gateway is unreachable.")
    core: CoreStats


async def _gateway_stats(gateway: GatewayClient) -> _GatewayReply | None:
    try:
        reply = await gateway.call("GET", "/stats", timeout_s=3)
        return _GatewayReply.model_validate(reply.json())
    except (GatewayUnavailable, GatewayRefused, ValueError, ValidationError):
        return None


def _channel(
    channel: Channel, live: SessionStats | None, messages: Traffic | None, now: datetime
) -> ChannelMonitor:
    """The gateway's live view of the session; when it cannot be asked, the last state core
    stored (no reconnects or timeline known)."""
    common: dict[str, Any] = {
        "id": channel.id,
        "name": channel.name,
        "phone": channel.phone,
        "session_id": channel.session_id,
        "messages_in": messages.inbound if messages else [0] * TRAFFIC_MINUTES,
        "messages_out": messages.outbound if messages else [0] * TRAFFIC_MINUTES,
    }
    if live is None:
        stored_age = None
        if channel.status_at is not None:
            stored_age = max(0.0, (now - channel.status_at).total_seconds())
        return ChannelMonitor(
            **common,
            state=channel.status,
            since=channel.status_at,
            reconnects=None,
            last_event_age_s=stored_age,
            timeline=[],
        )
    return ChannelMonitor(
        **common,
        state=live.state,
        since=live.since,
        reconnects=live.reconnects,
        last_event_age_s=live.last_event_age_s,
        timeline=live.timeline,
    )


@api.operation(
    "GET",
    "/monitoring",
    summary="Every number's session, the gateway and core, for the monitoring panel",
    roles=ADMIN,
    response=MonitoringOut,
    tags=TAGS,
)
async def monitoring(call: Call[None, None]) -> MonitoringOut:
    """Message series come from the database (the whole desk); the core figures are this
    replica's own. Never fails because the gateway is down: `gateway_reachable` says so."""
    now = datetime.now(UTC)
    async with call.db() as db:
        channels = list(await db.scalars(select(Channel).order_by(Channel.id)))
        traffic = await traffic_by_channel(db, now=now.timestamp())
    stats = await _gateway_stats(call.request.app[GATEWAY])
    sessions = {s.id: s for s in stats.sessions} if stats is not None else {}
    app = call.request.app
    monitor = app[MONITOR]
    hub = app.get(HUB)
    return MonitoringOut(
        at=now,
        traffic_minutes=TRAFFIC_MINUTES,
        core_minutes=CORE_MINUTES,
        channels=[
            _channel(c, sessions.get(c.session_id), traffic.get(c.id), now) for c in channels
        ],
        gateway_reachable=stats is not None,
        gateway=None if stats is None else GatewayStats(**stats.model_dump(exclude={"sessions"})),
        core=CoreStats(
            ingest_per_minute=monitor.ingest.series(),
            errors_per_minute=monitor.errors.series(),
            websocket_clients=len(hub.open) if hub is not None else 0,
        ),
    )
