"""Who may open the websocket: a page of this site (Origin), with a valid, unused ticket."""

from __future__ import annotations

import time

from aiohttp import hdrs, web
from yarl import URL

from core.api.routing import PREFIX
from core.auth.current import secret_key
from core.realtime.tickets import TicketClaims, UsedNonces, read_ticket
from zapdesk.errors import PermissionDenied, Unauthorized, ValidationFailed

USED_TICKETS = web.AppKey("realtime_used_tickets", UsedNonces)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_origin(request: web.Request, public_url: str | None) -> None:
    """Browsers always send Origin on a websocket: refuse pages of other sites (a page
    elsewhere must not act with the user's ticket). Clients without Origin are not browsers;
    the ticket is what admits them."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return
    if _same_host(origin, request.host) or (
        public_url is not None and _same_origin(origin, public_url)
    ):
        return
    raise PermissionDenied("This page may not open the websocket.", details={"origin": origin})


def _parse_origin(value: str) -> tuple[str, str, int] | None:
    try:
        url = URL(value)
    except ValueError:
        return None
    if url.scheme not in _DEFAULT_PORTS or not url.host or url.port is None:
        return None
    return url.scheme, url.host.lower(), url.port


def _same_host(origin: str, host_header: str) -> bool:
    parsed = _parse_origin(origin)
    if parsed is None:
        return False
    scheme, host, port = parsed
    try:
        url = URL(f"{scheme}://{host_header}")
    except ValueError:
        return False
    # Behind a TLS proxy the Host has no port and the app sees plain http: the port the
    # browser used is the default of the Origin's scheme.
    return (url.host or "").lower() == host and (url.explicit_port or port) == port


def _same_origin(origin: str, public_url: str) -> bool:
    parsed = _parse_origin(origin)
    return parsed is not None and parsed == _parse_origin(public_url)


async def admit(request: web.Request) -> TicketClaims:
    ticket = request.query.get("ticket")
    if not ticket:
        raise Unauthorized(
            f"Open the websocket with a ticket from POST {PREFIX}/ws/ticket.",
            details={"reason": "missing"},
        )
    claims = read_ticket(secret_key(request.app), ticket)
    # Remember the nonce as long as the ticket would be valid (plus a second of clock skew).
    remaining = claims.expires_at - time.time() + 1
    if not await request.app[USED_TICKETS].first_use(claims.nonce, remaining):
        raise Unauthorized(
            "This websocket ticket was already used; ask for a new one.",
            details={"reason": "reused"},
        )
    return claims


def last_seq_of(request: web.Request) -> int | None:
    raw = request.query.get("last_seq")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed(
            "last_seq: the last seq received, a whole number.", details={"field": "last_seq"}
        )
    return int(raw)
