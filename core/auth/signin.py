"""Signing in and out: credentials checked under throttling, refresh tokens issued and rotated.

The functions commit themselves: a failed attempt and a revoked family must be stored even
though the request then fails, so the caller only opens the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import refresh, throttle
from core.auth.passwords import verify_password
from core.auth.refresh import Client
from core.settings import AuthSettings
from core.storage.models import User
from zapdesk.errors import Unauthorized, ValidationFailed

log = structlog.get_logger("core.auth")

# Verified when nobody has the e-mail given, so that an unknown e-mail costs what a wrong
# password costs and timing does not tell which accounts exist. Nobody knows its password.
UNKNOWN_USER_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$byrP7QTeHALEW8qtKdUT0w$"
    "Bfct1vXP/nF7q2bwbn7E+5+sCgGnnyRca/XYJgahQBE"
)


class InvalidCredentials(Unauthorized):
    code, default_message = "invalid_credentials", "Wrong e-mail or password."


class AccountInactive(Unauthorized):
    code, default_message = "account_inactive", "This account is deactivated."


@dataclass(frozen=True)
class Grant:
    """A signed-in user and the refresh token that keeps them signed in."""

    user: User
    refresh_token: str


class WrongPassword(ValidationFailed):
    code, default_message = "wrong_password", "The current password is not right."


def normalized_email(email: str) -> str:
    return email.strip().lower()


async def sign_in(
    session: AsyncSession, rules: AuthSettings, email: str, password: str, client: Client
) -> Grant:
    now = datetime.now(UTC)
    email = normalized_email(email)
    await throttle.check(session, throttle.Limits.of(rules), email, client.ip, now)
    user = await session.scalar(select(User).where(User.email == email))
    matches = await verify_password(
        user.password_hash if user is not None else UNKNOWN_USER_HASH, password
    )
    if user is None or not matches or not user.is_active:
        await throttle.record(session, email, client.ip, succeeded=False, now=now)
        await session.commit()
        reason = "inactive" if user is not None and matches else "credentials"
        log.info("sign_in_refused", reason=reason, ip=client.ip)
        # Only someone who knows the password learns that the account is deactivated.
        raise AccountInactive() if reason == "inactive" else InvalidCredentials()
    await throttle.record(session, email, client.ip, succeeded=True, now=now)
    grant = await start(session, rules, user, client, now)
    log.info("signed_in", user_id=user.id, ip=client.ip)
    return grant


async def start(
    session: AsyncSession, rules: AuthSettings, user: User, client: Client, now: datetime
) -> Grant:
    """A new sign-in (a refresh-token family of its own) for a user who proved who they are."""
    user.last_login_at = now
    token = await refresh.issue(
        session, user_id=user.id, family=None, lifetime=_lifetime(rules), client=client, now=now
    )
    await session.commit()
    return Grant(user, token)


async def check_password(
    session: AsyncSession, rules: AuthSettings, user: User, password: str, client: Client
) -> None:
    """A signed-in user proving it is them (to change their password). A wrong password
    counts toward the sign-in throttle: a stolen session cannot be used to guess it."""
    now = datetime.now(UTC)
    limits = throttle.Limits.of(rules)
    await throttle.check(session, limits, user.email, client.ip, now)
    if not await verify_password(user.password_hash, password):
        await throttle.record(session, user.email, client.ip, succeeded=False, now=now)
        await session.commit()
        raise WrongPassword(details={"field": "current_password"})


async def renew(session: AsyncSession, rules: AuthSettings, token: str, client: Client) -> Grant:
    """A new refresh token for ``token`` (which is used up), in the same family."""
    now = datetime.now(UTC)
    used = await refresh.rotate(session, token, now)
    user = await session.get(User, used.user_id)
    if user is None or not user.is_active:
        await refresh.revoke_family(session, used.family, now)
        await session.commit()
        raise AccountInactive()
    fresh = await refresh.issue(
        session,
        user_id=user.id,
        family=used.family,
        lifetime=_lifetime(rules),
        client=client,
        now=now,
    )
    await session.commit()
    return Grant(user, fresh)


async def sign_out(session: AsyncSession, token: str) -> None:
    """Ends the sign-in ``token`` belongs to; an unknown token has nothing to end."""
    family = await refresh.family_of(session, token)
    if family is not None:
        await refresh.revoke_family(session, family, datetime.now(UTC))
        await session.commit()


async def sign_out_everywhere(session: AsyncSession, user_id: int) -> None:
    await refresh.revoke_user(session, user_id, datetime.now(UTC))
    await session.commit()
    log.info("signed_out_everywhere", user_id=user_id)


def _lifetime(rules: AuthSettings) -> timedelta:
    return timedelta(days=rules.refresh_token_days)
