"""The webhook signature, in the header ``X-Zapdesk-Signature: t=<unix>,v1=<hex>`` where the hex
is HMAC-SHA256(secret, "<t>.<body>").

The gateway signs each delivery; core verifies it and refuses stale timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Zapdesk-Signature"
TOLERANCE_S = 300


class BadSignature(Exception):
    """The request is not from our gateway, or not from now; the message says which check failed."""


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: float | None = None) -> str:
    """The header value for ``body``."""
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={_digest(secret.encode(), timestamp, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = TOLERANCE_S,
) -> None:
    """Raises BadSignature unless ``header`` signs ``body`` with ``secret`` within the tolerance."""
    if not header:
        raise BadSignature(f"missing {HEADER} header")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise BadSignature("signature has no valid timestamp") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise BadSignature("signature timestamp is too old or in the future")
    expected = _digest(secret.encode(), timestamp, body)
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise BadSignature("signature does not match")
