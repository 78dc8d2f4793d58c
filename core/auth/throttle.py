"""Sign-in throttling: failed attempts counted per account and per address in a sliding window.

Every attempt is a row in ``login_attempts``. A failure counts until it leaves the window or
until the same address signs in to the same account successfully, so a person who mistyped
their password is forgiven once they get it right, while failures from anyone else stay
counted. Refused (throttled) attempts are not recorded: recording them would let an attacker
keep someone's account locked for ever by trying it once every few minutes.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.settings import AuthSettings, IPNetwork
from core.storage.models import LoginAttempt
from zapdesk.errors import RateLimited

UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True)
class Limits:
    max_failures: int
    window: timedelta

    @classmethod
    def of(cls, settings: AuthSettings) -> Limits:
        return cls(settings.login_max_failures, timedelta(seconds=settings.login_window_seconds))


def client_address(
    remote: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    address in ``X-Forwarded-For`` that is not one of our proxies (the ones further left are
    whatever the client chose to send, so they are never believed)."""
    address = _parsed(remote)
    if address is None:
        return UNKNOWN_ADDRESS
    if not forwarded_for or not _is_trusted(address, trusted):
        return str(address)
    for hop in reversed(forwarded_for.split(",")):
        parsed = _parsed(hop.strip())
        if parsed is None:
            break  # a garbled hop: the last address we could trust is the best we know
        address = parsed
        if not _is_trusted(parsed, trusted):
            break
    return str(address)


def _parsed(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text) if text else None
    except ValueError:
        return None


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[IPNetwork]
) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


async def check(session: AsyncSession, limits: Limits, email: str, ip: str, now: datetime) -> None:
    """Raises RateLimited when the account or the address used up its failures."""
    waits = [
        await _wait(session, limits, LoginAttempt.email == email, now),
        await _wait(session, limits, LoginAttempt.ip == ip, now),
    ]
    longest = max(waits)
    if longest > 0:
        raise RateLimited(
            "Too many failed sign-ins; try again later.", details={"retry_after_s": longest}
        )


async def record(
    session: AsyncSession, email: str, ip: str, *, succeeded: bool, now: datetime
) -> None:
    session.add(LoginAttempt(email=email, ip=ip, succeeded=succeeded, at=now))
    await session.flush()


async def _wait(
    session: AsyncSession, limits: Limits, which: ColumnElement[bool], now: datetime
) -> int:
    """Seconds until fewer than ``max_failures`` counted failures remain in the window."""
    success = aliased(LoginAttempt)
    forgiven = exists().where(
        success.email == LoginAttempt.email,
        success.ip == LoginAttempt.ip,
        success.succeeded.is_(True),
        success.id > LoginAttempt.id,
    )
    recent = await session.scalars(
        select(LoginAttempt.at)
        .where(which, LoginAttempt.succeeded.is_(False), LoginAttempt.at > now - limits.window)
        .where(~forgiven)
        .order_by(LoginAttempt.at.desc())
        .limit(limits.max_failures)
    )
    failures = list(recent)
    if len(failures) < limits.max_failures:
        return 0
    # Allowed again once the oldest of the last max_failures failures leaves the window.
    leaves_at = failures[-1] + limits.window
    return max(1, math.ceil((leaves_at - now).total_seconds()))
