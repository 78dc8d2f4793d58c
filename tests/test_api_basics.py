"""The API's common ground: access tokens, the OpenAPI document and the docs page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.auth.tokens import issue_access, read_access
from core.storage.models import Role
from tests.conftest import Desk
from zapdesk.errors import Unauthorized

KEY = "a-test-key-of-at-least-32-bytes-long!"


def test_an_access_token_names_the_user_and_expires_in_15_minutes() -> None:
    now = datetime.now(UTC)
    claims = read_access(KEY, issue_access(KEY, 42, Role.SUPERVISOR, now=now))
    assert (claims.user_id, claims.role) == (42, Role.SUPERVISOR)
    assert timedelta(minutes=14) < claims.expires_at - now <= timedelta(minutes=15)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (issue_access(KEY, 1, Role.ADMIN, now=datetime.now(UTC) - timedelta(hours=1)), "expired"),
        (issue_access("another-key-of-at-least-32-bytes-long", 1, Role.ADMIN), "invalid"),
        ("not-a-token", "invalid"),
    ],
)
def test_a_bad_access_token_is_refused_saying_why(token: str, reason: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        read_access(KEY, token)
    assert caught.value.details == {"reason": reason}


async def test_the_openapi_document_and_docs_page_are_served(desk: Desk) -> None:
    response = await desk.client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"] == "3.1.0"
    assert "ErrorBody" in doc["components"]["schemas"]
    page = await desk.client.get("/api/docs")
    assert page.status == 200
    assert "/api/v1/openapi.json" in await page.text()
