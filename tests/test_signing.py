"""The webhook signature: core accepts only bodies our gateway signed, and only from now."""

from __future__ import annotations

import time

import pytest

from sessions.signing import HEADER, TOLERANCE_S, BadSignature, sign, verify

SECRET = "webhook-secret"
BODY = b'{"events":[{"id":"01J0000000000000000000000A"}]}'
# Signatures carry whole seconds: checks against a whole-second clock are exact.
NOW = int(time.time())


def test_a_signed_body_verifies() -> None:
    header = sign(SECRET, BODY)
    verify(SECRET, header, BODY)
    timestamp, digest = header.split(",")
    assert timestamp.startswith("t=")
    assert digest.startswith("v1=")
    assert len(digest) == len("v1=") + 64


def test_a_signature_within_the_tolerance_verifies() -> None:
    verify(SECRET, sign(SECRET, BODY, now=NOW - TOLERANCE_S), BODY, now=NOW)
    verify(SECRET, sign(SECRET, BODY, now=NOW + TOLERANCE_S), BODY, now=NOW)


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        pytest.param(sign(SECRET, BODY), BODY + b" ", "does not match", id="tampered-body"),
        pytest.param(sign("another-secret", BODY), BODY, "does not match", id="wrong-secret"),
        pytest.param(None, BODY, f"missing {HEADER} header", id="missing-header"),
        pytest.param("", BODY, f"missing {HEADER} header", id="empty-header"),
        pytest.param("v1=abc", BODY, "no valid timestamp", id="no-timestamp"),
        pytest.param("t=soon,v1=abc", BODY, "no valid timestamp", id="bad-timestamp"),
        pytest.param(sign(SECRET, BODY, now=NOW - 301), BODY, "too old", id="301-seconds-old"),
        pytest.param(sign(SECRET, BODY, now=NOW + 301), BODY, "in the future", id="301-ahead"),
    ],
)
def test_a_bad_signature_is_refused_naming_the_check(
    header: str | None, body: bytes, message: str
) -> None:
    with pytest.raises(BadSignature, match=message):
        verify(SECRET, header, body, now=NOW)


def test_a_replayed_signature_is_refused_once_stale() -> None:
    signed_at = NOW
    header = sign(SECRET, BODY, now=signed_at)
    verify(SECRET, header, BODY, now=signed_at + 60)
    with pytest.raises(BadSignature, match="too old"):
        verify(SECRET, header, BODY, now=signed_at + TOLERANCE_S + 1)
