"""Refresh tokens: opaque, stored as their SHA-256, rotated on every use, revoked by family.

A family is every token descending from one sign-in. Presenting a token that was already
rotated means two parties hold the same sign-in (one of them stole it), so the whole family is
revoked and both must sign in again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.models import RefreshToken
from sessions.ids import new_ulid
from zapdesk.errors import Unauthorized

log = structlog.get_logger("core.auth")

TOKEN_BYTES = 32
USER_AGENT_MAX = 200


class RefreshInvalid(Unauthorized):
    code, default_message = "token_invalid", "This sign-in is not known; sign in again."


class RefreshExpired(Unauthorized):
    code, default_message = "token_expired", "This sign-in expired; sign in again."


class RefreshRevoked(Unauthorized):
    code, default_message = "token_revoked", "This sign-in was ended; sign in again."


class RefreshReused(Unauthorized):
    code, default_message = (
        "token_reused",
        "This sign-in was used twice, so it was ended everywhere; sign in again.",
    )


@dataclass(frozen=True)
class Client:
    """Where a sign-in comes from, kept with its tokens so people can recognise it."""

    ip: str
    user_agent: str | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(
    session: AsyncSession,
    *,
    user_id: int,
    family: str | None,
    lifetime: timedelta,
    client: Client,
    now: datetime,
) -> str:
    """A new token (in ``family``, or starting a new one); only its digest is stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        RefreshToken(
            user_id=user_id,
            family=family or new_ulid(),
            token_hash=digest(token),
            created_at=now,
            expires_at=now + lifetime,
            user_agent=(client.user_agent or "")[:USER_AGENT_MAX] or None,
            ip=client.ip,
        )
    )
    await session.flush()
    return token


async def rotate(session: AsyncSession, token: str, now: datetime) -> RefreshToken:
    """Marks ``token`` used and answers its row, or raises saying why it cannot be used.

    On reuse the family is revoked and that is committed before raising, so the revocation
    stands although the request fails.
    """
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(token)))
    if row is None:
        raise RefreshInvalid()
    if row.rotated_at is not None:
        await _reused(session, row, now)
    if row.revoked_at is not None:
        raise RefreshRevoked()
    if row.expires_at <= now:
        raise RefreshExpired()
    # Conditional, so that of two concurrent refreshes with one token only one wins; the
    # other is a reuse like any other.
    claimed = await session.scalar(
        update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(rotated_at=now)
        .returning(RefreshToken.id)
    )
    if claimed is None:
        await _reused(session, row, now)
    return row


async def _reused(session: AsyncSession, row: RefreshToken, now: datetime) -> NoReturn:
    family, user_id = row.family, row.user_id
    await revoke_family(session, family, now)
    await session.commit()
    log.warning("refresh_token_reused", user_id=user_id, family=family)
    raise RefreshReused()


async def family_of(session: AsyncSession, token: str) -> str | None:
    family: str | None = await session.scalar(
        select(RefreshToken.family).where(RefreshToken.token_hash == digest(token))
    )
    return family


async def revoke_family(session: AsyncSession, family: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user(session: AsyncSession, user_id: int, now: datetime) -> None:
    """Ends every sign-in of the user (deactivation, password reset, sign out everywhere)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
