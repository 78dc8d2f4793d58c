"""Old sign-in records are deleted; what the throttle and token reuse need is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.housekeeping import sweep
from core.settings import AuthSettings
from core.storage.models import LoginAttempt, RefreshToken, Role, User

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def test_a_sweep_deletes_only_what_can_no_longer_count(session: AsyncSession) -> None:
    rules = AuthSettings(login_window_seconds=900)
    user = User(email="ana@empresa.com.br", name="Ana", role=Role.ATTENDANT, password_hash="x")
    session.add(user)
    await session.flush()
    for minutes in (1, 14, 16, 600):
        at = NOW - timedelta(minutes=minutes)
        session.add(LoginAttempt(email=user.email, ip="10.0.0.1", succeeded=False, at=at))
    for name, expires in (("live", 3), ("just-expired", -1), ("long-expired", -50)):
        session.add(
            RefreshToken(
                user_id=user.id,
                family=name,
                token_hash=name,
                expires_at=NOW + timedelta(hours=expires),
                rotated_at=NOW - timedelta(hours=60),  # rotated: kept to recognise reuse
            )
        )
    await session.commit()

    assert await sweep(session, rules, NOW) == (2, 1)
    await session.commit()
    attempts = await session.scalars(select(LoginAttempt.at).order_by(LoginAttempt.at))
    assert [NOW - at for at in attempts] == [timedelta(minutes=14), timedelta(minutes=1)]
    families = await session.scalars(select(RefreshToken.family).order_by(RefreshToken.family))
    assert list(families) == ["just-expired", "live"]
    assert await sweep(session, rules, NOW) == (0, 0)
