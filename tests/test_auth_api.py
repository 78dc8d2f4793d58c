"""Signing in and out as the web app does it: login, refresh-token rotation and reuse, logout,
throttling of failed sign-ins, who am I."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from core import keys
from core.app import create_app
from core.auth import passwords
from core.auth.throttle import client_address
from core.settings import AuthSettings
from core.storage.models import LoginAttempt, RefreshToken, User
from tests.conftest import Desk, make_settings
from zapdesk.settings import ConfigError

PASSWORD = "senha-forte-1"  # what Desk.user gives everyone
OpenDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id at its cheapest: these tests check many passwords."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


@pytest.fixture
def open_desk(aiohttp_client: Any, tmp_path: Path, database_url: str) -> OpenDesk:
    """Core with its sign-in settings changed; by default behind a proxy on loopback, so
    tests can come from any address through X-Forwarded-For."""

    async def open_(**auth: Any) -> Desk:
        auth.setdefault("trusted_proxies", "127.0.0.1")
        settings = make_settings(tmp_path, database_url, auth=AuthSettings(**auth))
        return Desk(await aiohttp_client(create_app(settings)))

    return open_


async def login(
    desk: Desk, email: str, password: str = PASSWORD, ip: str | None = None, **headers: str
) -> Any:
    if ip is not None:
        headers["X-Forwarded-For"] = ip
    return await desk.client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def signed_in(desk: Desk, email: str, **kwargs: Any) -> dict[str, Any]:
    response = await login(desk, email, **kwargs)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def refreshed(desk: Desk, token: str) -> Any:
    return await desk.client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    error: dict[str, Any] = (await response.json())["error"]
    return error


async def test_login_answers_a_token_pair_and_the_user(desk: Desk) -> None:
    user = await desk.user("attendant", email="Ana@Empresa.com.br", departments=[3, 1])
    body = await signed_in(desk, "  ana@empresa.com.BR ", **{"User-Agent": "Firefox/133"})

    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["user"]["id"] == user.id
    assert body["user"]["role"] == "attendant"
    assert body["user"]["department_ids"] == [1, 3]
    assert body["user"]["last_login_at"] is not None
    assert "password_hash" not in body["user"]
    token = body["refresh_token"]
    assert len(token) >= 43  # 32 random bytes, URL-safe

    me = await desk.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status == 200
    assert (await me.json())["email"] == "ana@empresa.com.br"

    async with desk.app[keys.SESSIONS]() as db:
        row = (await db.scalars(select(RefreshToken))).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.family)
    assert (row.user_agent, row.ip) == ("Firefox/133", "127.0.0.1")
    assert timedelta(days=29, hours=23) < row.expires_at - row.created_at <= timedelta(days=30)


async def test_unknown_email_and_wrong_password_get_the_same_answer(desk: Desk) -> None:
    await desk.user("attendant", email="bia@empresa.com.br")
    wrong_password = await error_of(await login(desk, "bia@empresa.com.br", "nope-nope"), 401)
    unknown_email = await error_of(await login(desk, "nobody@empresa.com.br"), 401)
    assert wrong_password == unknown_email
    assert wrong_password["code"] == "invalid_credentials"

    async with desk.app[keys.SESSIONS]() as db:
        attempts = (await db.scalars(select(LoginAttempt).order_by(LoginAttempt.id))).all()
    assert [(a.email, a.succeeded) for a in attempts] == [
        ("bia@empresa.com.br", False),
        ("nobody@empresa.com.br", False),
    ]


async def test_an_inactive_user_can_neither_log_in_nor_refresh(desk: Desk) -> None:
    user = await desk.user("attendant")
    token = (await signed_in(desk, user.email))["refresh_token"]
    async with desk.app[keys.SESSIONS].begin() as db:
        row = await db.get(User, user.id)
        assert row is not None
        row.is_active = False

    assert (await error_of(await login(desk, user.email), 401))["code"] == "account_inactive"
    assert (await error_of(await refreshed(desk, token), 401))["code"] == "account_inactive"
    # Someone who does not know the password learns nothing about the account.
    wrong = await error_of(await login(desk, user.email, "not-the-password"), 401)
    assert wrong["code"] == "invalid_credentials"


async def test_refresh_rotates_the_pair(desk: Desk) -> None:
    user = await desk.user("supervisor")
    first = await signed_in(desk, user.email)

    response = await refreshed(desk, first["refresh_token"])
    assert response.status == 200
    second = await response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"]["id"] == user.id
    assert second["expires_in"] == 900
    me = await desk.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status == 200

    third = await refreshed(desk, second["refresh_token"])
    assert third.status == 200
    async with desk.app[keys.SESSIONS]() as db:
        rows = (await db.scalars(select(RefreshToken).order_by(RefreshToken.id))).all()
    assert len({row.family for row in rows}) == 1
    assert [row.rotated_at is not None for row in rows] == [True, True, False]


async def test_reusing_a_rotated_token_ends_that_sign_in_everywhere(desk: Desk) -> None:
    user = await desk.user("attendant")
    stolen = (await signed_in(desk, user.email))["refresh_token"]
    elsewhere = (await signed_in(desk, user.email))["refresh_token"]  # another device
    current = (await (await refreshed(desk, stolen)).json())["refresh_token"]

    reused = await error_of(await refreshed(desk, stolen), 401)
    assert reused["code"] == "token_reused"
    # The thief's copy and the owner's current token are both dead now...
    assert (await error_of(await refreshed(desk, current), 401))["code"] == "token_revoked"
    assert (await error_of(await refreshed(desk, stolen), 401))["code"] == "token_reused"
    # ...but the sign-in on the other device is another family and goes on.
    assert (await refreshed(desk, elsewhere)).status == 200


async def test_a_refresh_token_nobody_issued_is_refused(desk: Desk) -> None:
    error = await error_of(await refreshed(desk, "made-up-token"), 401)
    assert error["code"] == "token_invalid"


async def test_an_expired_refresh_token_is_refused(desk: Desk) -> None:
    user = await desk.user("attendant")
    token = (await signed_in(desk, user.email))["refresh_token"]
    async with desk.app[keys.SESSIONS].begin() as db:
        row = (await db.scalars(select(RefreshToken))).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert (await error_of(await refreshed(desk, token), 401))["code"] == "token_expired"


async def test_logout_ends_the_sign_in(desk: Desk) -> None:
    user = await desk.user("attendant")
    first = (await signed_in(desk, user.email))["refresh_token"]
    rotated = (await (await refreshed(desk, first)).json())["refresh_token"]
    other = (await signed_in(desk, user.email))["refresh_token"]

    # Logging out with any token of the sign-in ends all of it.
    response = await desk.client.post("/api/v1/auth/logout", json={"refresh_token": first})
    assert response.status == 204
    assert (await error_of(await refreshed(desk, rotated), 401))["code"] == "token_revoked"
    assert (await refreshed(desk, other)).status == 200
    # Logging out twice, or with a token nobody knows, is no error.
    again = await desk.client.post("/api/v1/auth/logout", json={"refresh_token": "whatever"})
    assert again.status == 204


async def test_logout_all_ends_every_sign_in_of_the_user(desk: Desk) -> None:
    user, colleague = await desk.user("attendant"), await desk.user("attendant")
    tokens = [(await signed_in(desk, user.email))["refresh_token"] for _ in range(2)]
    theirs = (await signed_in(desk, colleague.email))["refresh_token"]

    response = await desk.client.post("/api/v1/auth/logout-all", headers=desk.auth(user))
    assert response.status == 204
    for token in tokens:
        assert (await refreshed(desk, token)).status == 401
    assert (await refreshed(desk, theirs)).status == 200
    anonymous = await desk.client.post("/api/v1/auth/logout-all")
    assert anonymous.status == 401


async def change_password(desk: Desk, user: Any, current: str, new: str) -> Any:
    return await desk.client.post(
        "/api/v1/auth/password",
        json={"current_password": current, "new_password": new},
        headers=desk.auth(user),
    )


async def test_changing_my_password_ends_my_other_sign_ins_and_keeps_this_one(
    desk: Desk,
) -> None:
    user = await desk.user("attendant")
    other_device = (await signed_in(desk, user.email))["refresh_token"]

    changed = await change_password(desk, user, PASSWORD, "uma-senha-nova-9")
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert body["user"]["id"] == user.id
    assert (await refreshed(desk, body["refresh_token"])).status == 200  # this tab goes on
    assert (await refreshed(desk, other_device)).status == 401  # the other one must sign in
    await error_of(await login(desk, user.email), 401)
    assert (await login(desk, user.email, "uma-senha-nova-9")).status == 200


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failure(
    desk: Desk,
) -> None:
    user = await desk.user("attendant")
    error = await error_of(await change_password(desk, user, "not-it", "uma-senha-nova-9"), 422)
    assert (error["code"], error["details"]) == ("wrong_password", {"field": "current_password"})
    short = await error_of(await change_password(desk, user, PASSWORD, "curta"), 422)
    assert (short["code"], short["details"]) == ("validation_error", {"field": "new_password"})
    async with desk.app[keys.SESSIONS]() as db:
        stored = await db.get(User, user.id)
        assert stored is not None
        assert await passwords.verify_password(stored.password_hash, PASSWORD)  # unchanged

    for _ in range(4):  # with the first one above: five failures, the throttle's limit
        await error_of(await change_password(desk, user, "not-it", "uma-senha-nova-9"), 422)
    throttled = await change_password(desk, user, PASSWORD, "uma-senha-nova-9")
    assert (await error_of(throttled, 429))["code"] == "rate_limited"
    assert int(throttled.headers["Retry-After"]) > 0


async def test_me_shows_the_user_with_departments(desk: Desk) -> None:
    user = await desk.user("supervisor", departments=[7])
    response = await desk.client.get("/api/v1/auth/me", headers=desk.auth(user))
    body = await response.json()
    assert (body["id"], body["role"], body["department_ids"]) == (user.id, "supervisor", [7])
    assert body["last_login_at"] is None  # never signed in with a password
    assert (await desk.client.get("/api/v1/auth/me")).status == 401


# Throttling.


async def test_the_sixth_failure_for_an_account_is_refused_from_any_address(
    open_desk: OpenDesk,
) -> None:
    desk = await open_desk()
    user, colleague = await desk.user("attendant"), await desk.user("attendant")
    for n in range(5):
        await error_of(await login(desk, user.email, "wrong-password", ip=f"10.0.0.{n}"), 401)

    # Even the right password, from an address that never failed.
    response = await login(desk, user.email, ip="10.9.9.9")
    error = await error_of(response, 429)
    assert error["code"] == "rate_limited"
    wait = int(response.headers["Retry-After"])
    assert 890 <= wait <= 900
    assert error["details"]["retry_after_s"] == wait
    # Other accounts from those addresses are not affected.
    assert (await login(desk, colleague.email, ip="10.0.0.1")).status == 200


async def test_the_sixth_failure_from_an_address_is_refused_for_any_account(
    open_desk: OpenDesk,
) -> None:
    desk = await open_desk()
    users = [await desk.user("attendant") for _ in range(6)]
    for user in users[:5]:
        await error_of(await login(desk, user.email, "wrong-password", ip="203.0.113.7"), 401)

    response = await login(desk, users[5].email, ip="203.0.113.7")
    assert (await error_of(response, 429))["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    # The same people from their own address sign in (each account failed only once).
    assert (await login(desk, users[5].email, ip="198.51.100.1")).status == 200
    assert (await login(desk, users[0].email, ip="198.51.100.1")).status == 200


async def test_retry_after_counts_from_the_oldest_failure_in_the_window(desk: Desk) -> None:
    user = await desk.user("attendant")
    now = datetime.now(UTC)

    async def failed(ip: str, *minutes_ago: int) -> None:
        async with desk.app[keys.SESSIONS].begin() as db:
            for minutes in minutes_ago:
                at = now - timedelta(minutes=minutes)
                db.add(LoginAttempt(email=user.email, ip=ip, succeeded=False, at=at))

    await failed("10.2.2.2", 16, 16, 16, 16, 16)  # outside the 15-minute window: forgotten
    assert (await login(desk, user.email)).status == 200

    await failed("10.1.1.1", 14, 13, 12, 11, 10)
    response = await login(desk, user.email)
    assert response.status == 429
    # Allowed again when the oldest failure leaves the window, one minute from now.
    assert 55 <= int(response.headers["Retry-After"]) <= 60
    async with desk.app[keys.SESSIONS].begin() as db:
        oldest = await db.scalar(
            select(LoginAttempt).where(LoginAttempt.ip == "10.1.1.1").order_by(LoginAttempt.at)
        )
        assert oldest is not None
        oldest.at = now - timedelta(minutes=15, seconds=1)
    assert (await login(desk, user.email)).status == 200


async def test_a_success_forgives_only_the_failures_of_its_own_address(
    open_desk: OpenDesk,
) -> None:
    desk = await open_desk(login_max_failures=3)
    user = await desk.user("attendant")
    owner, attacker = "192.0.2.10", "192.0.2.66"
    # The owner mistypes twice, gets it right, mistypes twice more: never locked out.
    for _ in range(2):
        await error_of(await login(desk, user.email, "typo-typo", ip=owner), 401)
    assert (await login(desk, user.email, ip=owner)).status == 200
    for _ in range(2):
        await error_of(await login(desk, user.email, "typo-typo", ip=owner), 401)
    assert (await login(desk, user.email, ip=owner)).status == 200

    # The attacker's failures stay counted although the owner keeps signing in.
    for _ in range(2):
        await error_of(await login(desk, user.email, "guess-guess", ip=attacker), 401)
    assert (await login(desk, user.email, ip=owner)).status == 200
    await error_of(await login(desk, user.email, "guess-guess", ip=attacker), 401)
    assert (await login(desk, user.email, ip=owner)).status == 429
    assert (await login(desk, user.email, ip=attacker)).status == 429


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    desk: Desk,
) -> None:
    users = [await desk.user("attendant") for _ in range(6)]
    for n, user in enumerate(users[:5]):
        await error_of(await login(desk, user.email, "wrong-password", ip=f"10.3.0.{n}"), 401)
    # Five failures came from 127.0.0.1 whatever the header said.
    assert (await login(desk, users[5].email, ip="10.3.0.99")).status == 429
    async with desk.app[keys.SESSIONS]() as db:
        addresses = set(await db.scalars(select(LoginAttempt.ip)))
    assert addresses == {"127.0.0.1"}


def test_the_client_address_is_the_nearest_one_our_proxies_did_not_add() -> None:
    proxies = AuthSettings(trusted_proxies="10.0.0.0/8, 127.0.0.1").proxy_networks
    assert client_address("127.0.0.1", "1.2.3.4, 5.6.7.8, 10.0.0.2", proxies) == "5.6.7.8"
    assert client_address("127.0.0.1", None, proxies) == "127.0.0.1"
    assert client_address("8.8.8.8", "1.2.3.4", proxies) == "8.8.8.8"
    assert client_address("127.0.0.1", "garbage, 10.0.0.5", proxies) == "10.0.0.5"
    assert client_address("::1", "1.2.3.4", proxies) == "::1"
    assert client_address(None, "1.2.3.4", proxies) == "unknown"


def test_a_trusted_proxy_that_is_not_an_address_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZAPDESK_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")
    with pytest.raises(ConfigError, match=r"^invalid ZAPDESK_TRUSTED_PROXIES=.*proxy\.local"):
        AuthSettings.load()


async def test_every_auth_operation_is_in_the_openapi_document(desk: Desk) -> None:
    doc = await (await desk.client.get("/api/v1/openapi.json")).json()
    paths = doc["paths"]
    login_op = paths["/api/v1/auth/login"]["post"]
    assert login_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Login"
    )
    assert "SignedIn" in doc["components"]["schemas"]
    assert "security" not in login_op
    for path in ("/auth/refresh", "/auth/logout", "/auth/logout-all"):
        assert "post" in paths[f"/api/v1{path}"]
    assert paths["/api/v1/auth/me"]["get"]["x-roles"] == ["admin", "attendant", "supervisor"]


async def test_two_refreshes_racing_with_one_token_let_at_most_one_through(desk: Desk) -> None:
    user = await desk.user("attendant")
    for _ in range(3):
        token = (await signed_in(desk, user.email))["refresh_token"]
        responses = await asyncio.gather(*(refreshed(desk, token) for _ in range(6)))
        statuses = sorted(r.status for r in responses)
        assert statuses == [200, 401, 401, 401, 401, 401], [await r.text() for r in responses]
        winner = next(r for r in responses if r.status == 200)
        # Two holders of one token is a theft: the family is ended, the winner's token too.
        assert (await refreshed(desk, (await winner.json())["refresh_token"])).status == 401
