"""Websocket tickets: short-lived, single-use passes that open ``/api/v1/ws``.

A browser cannot set an Authorization header on a websocket, and an access token in a URL would
end up in proxy logs for its whole life. So the signed-in client asks for a ticket (30 s) and
puts it in the URL; the ticket is signed with the secret key (any replica can check it) and its
nonce is remembered until it expires (in Redis when configured, so no replica accepts it twice).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from redis.asyncio import Redis

from zapdesk.errors import Unauthorized

VERSION = "v1"
# The ticket key is derived from the secret key, so a ticket can never pass for another token.
_PURPOSE = b"zapdesk websocket ticket"


@dataclass(frozen=True)
class TicketClaims:
    user_id: int
    expires_at: int  # unix seconds
    nonce: str


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_ticket(secret: str, user_id: int, ttl: int, now: float | None = None) -> str:
    expires_at = int((time.time() if now is None else now) + ttl)
    payload = f"{VERSION}.{user_id}.{expires_at}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_signature(secret, payload)}"


def read_ticket(secret: str, ticket: str, now: float | None = None) -> TicketClaims:
    """The claims of a well-signed, unexpired ticket; Unauthorized otherwise (saying why)."""
    payload, _, signature = ticket.rpartition(".")
    parts = payload.split(".")
    if (
        len(parts) != 4
        or parts[0] != VERSION
        or not parts[1].isdigit()
        or not parts[2].isdigit()
        or not hmac.compare_digest(signature, _signature(secret, payload))
    ):
        raise Unauthorized("The websocket ticket is not valid.", details={"reason": "invalid"})
    claims = TicketClaims(user_id=int(parts[1]), expires_at=int(parts[2]), nonce=parts[3])
    if claims.expires_at <= (time.time() if now is None else now):
        raise Unauthorized(
            "The websocket ticket expired; ask for a new one.", details={"reason": "expired"}
        )
    return claims


class UsedNonces(ABC):
    """Remembers the nonces of tickets already used, until they would have expired anyway."""

    @abstractmethod
    async def first_use(self, nonce: str, ttl: float) -> bool:
        """True the first time ``nonce`` is seen (and records it); False afterwards."""


class MemoryNonces(UsedNonces):
    """One core process: a dict in expiry order (every ticket lives the same time)."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    async def first_use(self, nonce: str, ttl: float) -> bool:
        now = time.monotonic()
        while self._expiry:
            oldest = next(iter(self._expiry))
            if self._expiry[oldest] > now:
                break
            del self._expiry[oldest]
        if nonce in self._expiry:
            return False
        self._expiry[nonce] = now + ttl
        return True


class RedisNonces(UsedNonces):
    """Every core replica: ``SET NX`` with a TTL, so exactly one replica wins a ticket."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:ws-ticket:"

    async def first_use(self, nonce: str, ttl: float) -> bool:
        stored = await self._redis.set(
            self._prefix + nonce, b"1", nx=True, px=max(1, int(ttl * 1000))
        )
        return bool(stored)
