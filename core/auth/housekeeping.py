"""Sign-in records that can no longer matter are deleted, so their tables stay small.

A failed sign-in counts only within the throttle's window, and a refresh token only until it
expires (a rotated one is kept until then, so that its reuse is still recognised). A sweep
runs a minute after start (not competing with start-up) and then every ``SWEEP_EVERY``; with
several replicas each sweeps, harmlessly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import CursorResult, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.auth.throttle import Limits
from core.settings import AuthSettings
from core.storage.models import LoginAttempt, RefreshToken
from zapdesk.tasks import Worker

log = structlog.get_logger("core.auth")

SWEEP_FIRST = timedelta(minutes=1)
SWEEP_EVERY = timedelta(hours=1)
# Expired tokens are kept a little longer: someone presenting one learns it expired, not that
# it never existed.
EXPIRED_KEPT = timedelta(days=1)


async def sweep(session: AsyncSession, rules: AuthSettings, now: datetime) -> tuple[int, int]:
    """Deletes what no longer counts; answers (login attempts, refresh tokens) deleted."""
    attempts: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
        delete(LoginAttempt).where(LoginAttempt.at < now - Limits.of(rules).window)
    )
    tokens: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
        delete(RefreshToken).where(RefreshToken.expires_at < now - EXPIRED_KEPT)
    )
    return attempts.rowcount, tokens.rowcount


class AuthHousekeeping(Worker):
    """The sweeping loop of one replica, owned by a cleanup context."""

    name = "auth-housekeeping"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], rules: AuthSettings) -> None:
        super().__init__(SWEEP_EVERY.total_seconds(), first_delay_s=SWEEP_FIRST.total_seconds())
        self._sessions = sessions
        self._rules = rules

    async def run_once(self) -> bool:
        async with self._sessions.begin() as session:
            attempts, tokens = await sweep(session, self._rules, datetime.now(UTC))
        if attempts or tokens:
            log.info("auth_swept", login_attempts=attempts, refresh_tokens=tokens)
        return False  # the next sweep after SWEEP_EVERY
