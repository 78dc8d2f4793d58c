"""Realtime: websocket tickets (the socket itself is core.realtime.hub)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.api.routing import ANY_USER, Api, Call
from core.auth.current import secret_key
from core.realtime.config import REALTIME
from core.realtime.tickets import issue_ticket

api = Api()


class TicketOut(BaseModel):
    ticket: str = Field(description="Pass it as `?ticket=` to `GET /api/v1/ws`; works once.")
    expires_in: int = Field(description="Seconds the ticket stays valid.")


@api.operation(
    "POST",
    "/ws/ticket",
    summary="A ticket to open the websocket",
    roles=ANY_USER,
    response=TicketOut,
    tags=("realtime",),
)
async def create_ws_ticket(call: Call[None, None]) -> TicketOut:
    """A short-lived, single-use ticket bound to the signed-in user, for
    `GET /api/v1/ws?ticket=...` (browsers cannot send an Authorization header on a websocket).
    Any core replica accepts it, once. Frames are `{"seq", "type", "data"}`; the client sends
    `subscribe`, `unsubscribe` (topics `inbox`, `conversation:<id>`, `sessions`, `presence`,
    `me`), `resume` with the last seq it saw (or `?last_seq=` on connect) and `ping`, and gets a
    `result` for each with the same error codes as this API."""
    ttl = call.request.app[REALTIME].ticket_ttl
    return TicketOut(
        ticket=issue_ticket(secret_key(call.request.app), call.me.id, ttl), expires_in=ttl
    )
