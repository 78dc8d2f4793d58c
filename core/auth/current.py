"""The user behind a request: a Bearer access token, checked, and the user still active."""

from __future__ import annotations

from aiohttp import web

from core import keys
from core.auth.tokens import read_access
from core.storage.models import User
from zapdesk.errors import Unauthorized

CURRENT_USER = web.RequestKey("zapdesk_user", User)


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(request: web.Request) -> User:
    """The active user whose access token the request carries; Unauthorized otherwise."""
    if CURRENT_USER in request:
        return request[CURRENT_USER]
    token = bearer(request)
    if token is None:
        raise Unauthorized("Sign in to continue.", details={"reason": "missing"})
    claims = read_access(secret_key(request.app), token)
    async with request.app[keys.SESSIONS]() as db:
        user = await db.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active.", details={"reason": "inactive"})
    request[CURRENT_USER] = user
    return user


def secret_key(app: web.Application) -> str:
    key = app[keys.SETTINGS].web.secret_key
    if key is None:  # pragma: no cover - settings resolve it at load
        raise RuntimeError("ZAPDESK_SECRET_KEY is not set")
    return key.get_secret_value()
