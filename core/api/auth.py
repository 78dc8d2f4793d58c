"""Signing in and out: access tokens, refresh-token rotation, throttling, who am I."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys
from core.api.routing import ANY_USER, PUBLIC, Api, Call
from core.api.users import reset_password, user_out
from core.auth import signin
from core.auth.current import secret_key
from core.auth.refresh import Client
from core.auth.throttle import client_address
from core.auth.tokens import ACCESS_TTL, issue_access
from core.storage.models import User
from core.views import UserOut
from zapdesk.errors import Unauthorized

log = structlog.get_logger("core.api.auth")

api = Api()
TAGS = ("auth",)


class Login(BaseModel):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshTokenIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(max_length=1024, description="At least 8 characters.")


class SignedIn(BaseModel):
    access_token: str = Field(description="JWT for `Authorization: Bearer`; lives 15 minutes.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a kind of token, not a secret
    expires_in: int = Field(description="Seconds the access token lives.")
    refresh_token: str = Field(
        description="Opaque; trade it at /auth/refresh for a new pair. Works once."
    )
    user: UserOut


def _client(request: web.Request) -> Client:
    ip = client_address(
        request.remote,
        request.headers.get("X-Forwarded-For"),
        request.app[keys.SETTINGS].auth.proxy_networks,
    )
    return Client(ip=ip, user_agent=request.headers.get("User-Agent"))


async def _signed_in(session: AsyncSession, request: web.Request, grant: signin.Grant) -> SignedIn:
    user = grant.user
    shown = await user_out(session, user)
    return SignedIn(
        access_token=issue_access(secret_key(request.app), user.id, user.role),
        expires_in=int(ACCESS_TTL.total_seconds()),
        refresh_token=grant.refresh_token,
        user=shown,
    )


@api.operation(
    "POST", "/auth/login", summary="Sign in", roles=PUBLIC, body=Login, response=SignedIn, tags=TAGS
)
async def login(call: Call[Login, None]) -> SignedIn:
    """Wrong e-mail and wrong password answer the same 401 `invalid_credentials`. After too
    many failures for the account or the address: 429 `rate_limited` with `Retry-After`."""
    async with call.db() as session:
        grant = await signin.sign_in(
            session,
            call.settings.auth,
            call.body.email,
            call.body.password,
            _client(call.request),
        )
        return await _signed_in(session, call.request, grant)


@api.operation(
    "POST",
    "/auth/refresh",
    summary="Trade a refresh token for a new pair",
    roles=PUBLIC,
    body=RefreshTokenIn,
    response=SignedIn,
    tags=TAGS,
)
async def refresh_tokens(call: Call[RefreshTokenIn, None]) -> SignedIn:
    """The token given is used up. Presenting a used one again ends that sign-in everywhere
    (401 `token_reused`): someone else holds a copy."""
    async with call.db() as session:
        grant = await signin.renew(
            session, call.settings.auth, call.body.refresh_token, _client(call.request)
        )
        return await _signed_in(session, call.request, grant)


@api.operation(
    "POST", "/auth/logout", summary="Sign out", roles=PUBLIC, body=RefreshTokenIn, tags=TAGS
)
async def logout(call: Call[RefreshTokenIn, None]) -> None:
    """Ends the sign-in the refresh token belongs to (every token descending from it)."""
    async with call.db() as session:
        await signin.sign_out(session, call.body.refresh_token)


@api.operation("POST", "/auth/logout-all", summary="Sign out everywhere", roles=ANY_USER, tags=TAGS)
async def logout_all(call: Call[None, None]) -> None:
    """Ends every sign-in of the current user, on every device."""
    async with call.db() as session:
        await signin.sign_out_everywhere(session, call.me.id)


@api.operation(
    "POST",
    "/auth/password",
    summary="Change my password",
    roles=ANY_USER,
    body=PasswordChange,
    response=SignedIn,
    tags=TAGS,
)
async def change_password(call: Call[PasswordChange, None]) -> SignedIn:
    """Proven with the current password (422 `wrong_password`; failures count toward the
    sign-in throttle, 429 with `Retry-After`). Every other sign-in of the user ends; this one
    continues with the new tokens in the answer."""
    client = _client(call.request)
    async with call.db() as session:
        user = await session.get(User, call.me.id)
        if user is None:  # pragma: no cover - authenticated a moment ago
            raise Unauthorized()
        await signin.check_password(
            session, call.settings.auth, user, call.body.current_password, client
        )
        await reset_password(session, user, call.body.new_password, field="new_password")
        grant = await signin.start(session, call.settings.auth, user, client, datetime.now(UTC))
        log.info("password_changed", user_id=user.id)
        return await _signed_in(session, call.request, grant)


@api.operation("GET", "/auth/me", summary="Who am I", roles=ANY_USER, response=UserOut, tags=TAGS)
async def me(call: Call[None, None]) -> UserOut:
    async with call.db() as session:
        return await user_out(session, call.me)
