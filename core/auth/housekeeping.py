"""Sign-in records that can no longer matter are deleted, so their tables stay small.

A failed sign-in counts only within the throttle's window, and a refresh token only until it
expires (a rotated one is kept until then, so that its reuse is still recognised). A sweep
runs a minute after start (not competing with start-up) and then every ``SWEEP_EVERY``; with
several replicas each sweeps, harmlessly.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import CursorResult, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.auth.throttle import Limits
from core.settings import AuthSettings
from core.storage.models import LoginAttempt, RefreshToken

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


class AuthHousekeeping:
    """The sweeping loop of one replica, owned by a cleanup context."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], rules: AuthSettings) -> None:
        self._sessions = sessions
        self._rules = rules
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="auth-housekeeping")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        await asyncio.sleep(SWEEP_FIRST.total_seconds())
        while True:
            try:
                async with self._sessions.begin() as session:
                    attempts, tokens = await sweep(session, self._rules, datetime.now(UTC))
                if attempts or tokens:
                    log.info("auth_swept", login_attempts=attempts, refresh_tokens=tokens)
            except Exception:
                log.exception("auth_sweep_failed")  # the next sweep tries again
            await asyncio.sleep(SWEEP_EVERY.total_seconds())
