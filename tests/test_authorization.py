"""The authorization matrix: every route by {anonymous, attendant, supervisor, admin}.

The expected roles are written here, independently of the routes' declarations, and the
table must name every route: a new route cannot ship without deciding who may call it.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.api import APIS
from tests.conftest import Desk

ALL = {"attendant", "supervisor", "admin"}
STAFF = {"supervisor", "admin"}
ADMIN = {"admin"}
PUBLIC: set[str] = set()

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/refresh"): PUBLIC,
    ("POST", "/auth/logout"): PUBLIC,
    ("POST", "/auth/logout-all"): ALL,
    ("GET", "/auth/me"): ALL,
    ("POST", "/auth/password"): ALL,
    ("GET", "/conversations"): ALL,
    ("GET", "/conversations/{id}"): ALL,
    ("GET", "/conversations/{id}/messages"): ALL,
    ("POST", "/conversations/{id}/read"): ALL,
    ("POST", "/conversations/{id}/messages"): ALL,
    ("POST", "/conversations/{id}/typing"): ALL,
    ("GET", "/contacts"): ALL,
    ("GET", "/contacts/{id}"): ALL,
    ("PATCH", "/contacts/{id}"): ALL,
    ("GET", "/channels"): ALL,
    ("POST", "/channels"): STAFF,
    ("GET", "/channels/{id}/qr"): STAFF,
    ("POST", "/channels/{id}/pair-code"): STAFF,
    ("POST", "/channels/{id}/restart"): STAFF,
    ("POST", "/channels/{id}/logout"): STAFF,
    ("DELETE", "/channels/{id}"): STAFF,
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("PATCH", "/users/{id}"): ADMIN,
    ("POST", "/users/{id}/password"): ADMIN,
    ("POST", "/media"): ALL,
    ("GET", "/media/{id}"): ALL,
    ("GET", "/messages/{id}/media"): ALL,
    ("POST", "/ws/ticket"): ALL,
    ("GET", "/conversations/{id}/suggestion"): ALL,
    ("POST", "/conversations/{id}/suggestions"): ALL,
    ("POST", "/suggestions/{id}/feedback"): ALL,
    ("GET", "/copilot/stats"): STAFF,
    ("POST", "/conversations/{id}/summary"): ALL,
    ("POST", "/copilot/rewrite"): ALL,
    ("POST", "/conversations/{id}/contact-proposal"): ALL,
    ("GET", "/knowledge"): ALL,
    ("POST", "/knowledge"): STAFF,
    ("GET", "/knowledge/{id}"): ALL,
    ("PATCH", "/knowledge/{id}"): STAFF,
    ("DELETE", "/knowledge/{id}"): STAFF,
    ("GET", "/quick-replies"): ALL,
    ("POST", "/quick-replies"): STAFF,
    ("PATCH", "/quick-replies/{id}"): STAFF,
    ("DELETE", "/quick-replies/{id}"): STAFF,
    ("GET", "/monitoring"): ADMIN,
    ("GET", "/departments"): ALL,
    ("POST", "/departments"): ADMIN,
    ("PATCH", "/departments/{id}"): ADMIN,
    ("DELETE", "/departments/{id}"): ADMIN,
    ("GET", "/queues"): ALL,
    ("GET", "/team"): ALL,
    ("GET", "/people"): ALL,
    ("PUT", "/presence"): ALL,
    ("POST", "/conversations/{id}/claim"): ALL,
    ("POST", "/conversations/{id}/assign"): STAFF,
    ("POST", "/conversations/{id}/unassign"): ALL,
    ("POST", "/conversations/{id}/transfer"): ALL,
    ("POST", "/conversations/{id}/pending"): ALL,
    ("POST", "/conversations/{id}/snooze"): ALL,
    ("POST", "/conversations/{id}/resolve"): ALL,
    ("GET", "/conversations/{id}/events"): ALL,
    ("GET", "/channels/{id}/bot"): STAFF,
    ("PUT", "/channels/{id}/bot"): ADMIN,
    ("GET", "/tags"): ALL,
    ("POST", "/tags"): ADMIN,
    ("PATCH", "/tags/{id}"): ADMIN,
    ("DELETE", "/tags/{id}"): ADMIN,
    ("PUT", "/conversations/{id}/tags"): ALL,
    ("POST", "/conversations/{id}/notes"): ALL,
    ("GET", "/conversations/{id}/mentionable"): ALL,
    ("GET", "/me/notifications"): ALL,
    ("POST", "/me/notifications/{id}/read"): ALL,
    ("POST", "/me/notifications/read"): ALL,
    ("GET", "/me/preferences"): ALL,
    ("PUT", "/me/preferences"): ALL,
}


def test_the_matrix_names_every_route() -> None:
    declared = {(op.method, op.path) for api in APIS for op in api.operations}
    assert declared == set(EXPECTED)


@pytest.mark.parametrize("who", ["anonymous", "attendant", "supervisor", "admin"])
async def test_every_route_lets_in_exactly_the_expected_roles(desk: Desk, who: str) -> None:
    headers: dict[str, str] = {}
    if who != "anonymous":
        headers = desk.auth(await desk.user(who))
    wrong: list[str] = []
    for (method, path), allowed in EXPECTED.items():
        url = "/api/v1" + path.replace("{id}", "999999")
        response = await desk.client.request(method, url, headers=headers, json={})
        status = response.status
        await response.read()
        if allowed and who == "anonymous":
            expected: Any = 401
        elif allowed and who not in allowed:
            expected = 403
        else:
            expected = "not 401/403"
        refused = status in (401, 403)
        if (expected == "not 401/403" and refused) or (
            expected != "not 401/403" and status != expected
        ):
            wrong.append(f"{method} {path} as {who}: {status}, expected {expected}")
        assert status < 500, f"{method} {path} as {who}: {status}"
    assert wrong == []
