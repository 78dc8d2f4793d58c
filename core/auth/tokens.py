"""Access tokens: short-lived JWTs (HS256, the settings' secret key) naming the user and role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from core.storage.models import Role
from sessions.ids import new_ulid
from zapdesk.errors import Unauthorized

ACCESS_TTL = timedelta(minutes=15)
ALGORITHM = "HS256"
AUDIENCE = "zapdesk"


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    role: Role
    expires_at: datetime


def issue_access(secret: str, user_id: int, role: Role, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role.value,
        "aud": AUDIENCE,
        "typ": "access",
        "iat": int(issued.timestamp()),
        "exp": int((issued + ACCESS_TTL).timestamp()),
        "jti": new_ulid(),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_access(secret: str, token: str) -> AccessClaims:
    """The claims of a valid, unexpired access token; Unauthorized otherwise (saying why)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE)
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "The session expired; sign in again.", details={"reason": "expired"}
        ) from None
    except jwt.PyJWTError:
        raise Unauthorized(
            "The access token is not valid.", details={"reason": "invalid"}
        ) from None
    if claims.get("typ") != "access":
        raise Unauthorized("The access token is not valid.", details={"reason": "invalid"})
    return AccessClaims(
        user_id=int(claims["sub"]),
        role=Role(claims["role"]),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )
