"""Admins manage users: list, create, change, deactivate, reset passwords; others cannot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import update

from core import keys
from core.auth import passwords
from core.storage.models import Role, User
from tests.conftest import Desk

PASSWORD = "senha-forte-1"  # what Desk.user gives everyone


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id at its cheapest: these tests set and check many passwords."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


async def login(desk: Desk, email: str, password: str = PASSWORD) -> Any:
    return await desk.client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def refresh_token(desk: Desk, email: str, password: str = PASSWORD) -> str:
    response = await login(desk, email, password)
    assert response.status == 200, await response.text()
    token: str = (await response.json())["refresh_token"]
    return token


async def refreshed(desk: Desk, token: str) -> Any:
    return await desk.client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def answer(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json() if status != 204 else None


async def test_only_admins_manage_users(desk: Desk) -> None:
    target = await desk.user("attendant")
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/v1/users", None),
        (
            "POST",
            "/api/v1/users",
            {"email": "x@empresa.com.br", "name": "X", "role": "admin", "password": PASSWORD},
        ),
        ("PATCH", f"/api/v1/users/{target.id}", {"role": "admin"}),
        ("POST", f"/api/v1/users/{target.id}/password", {"password": "another-one-1"}),
    ]
    for role in ("attendant", "supervisor"):
        someone = await desk.user(role)
        for method, path, body in calls:
            response = await desk.client.request(
                method, path, json=body, headers=desk.auth(someone)
            )
            error = (await answer(response, 403))["error"]
            assert error["code"] == "permission_denied", (role, method, path)
    for method, path, body in calls:
        response = await desk.client.request(method, path, json=body)
        assert (await answer(response, 401))["error"]["code"] == "unauthorized"
    # Nothing changed.
    assert (await login(desk, target.email)).status == 200
    me = await answer(await desk.client.get("/api/v1/auth/me", headers=desk.auth(target)), 200)
    assert me["role"] == "attendant"


async def test_an_admin_creates_a_user_who_can_then_sign_in(desk: Desk) -> None:
    admin = await desk.user("admin")
    await desk.user("attendant", departments=[1, 2])  # creates the departments
    created = await answer(
        await desk.client.post(
            "/api/v1/users",
            json={
                "email": " Carla@Empresa.com.br",
                "name": "Carla",
                "role": "attendant",
                "password": "carla-senha-1",
                "department_ids": [2, 1, 2],
            },
            headers=desk.auth(admin),
        ),
        201,
    )
    assert created["email"] == "carla@empresa.com.br"
    assert created["department_ids"] == [1, 2]
    assert created["is_active"] is True

    signed_in = await answer(await login(desk, "carla@empresa.com.br", "carla-senha-1"), 200)
    assert signed_in["user"]["id"] == created["id"]

    listed = await answer(await desk.client.get("/api/v1/users", headers=desk.auth(admin)), 200)
    by_email = {user["email"]: user for user in listed["items"]}
    assert by_email["carla@empresa.com.br"]["department_ids"] == [1, 2]
    assert by_email[admin.email]["role"] == "admin"
    assert len(listed["items"]) == 3


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"email": "taken@empresa.com.br"}, 409, "conflict"),
        ({"email": "not-an-email"}, 422, "validation_error"),
        ({"password": "short"}, 422, "validation_error"),
        ({"department_ids": [99]}, 422, "validation_error"),
        ({"role": "owner"}, 422, "validation_error"),
    ],
)
async def test_creating_a_bad_user_says_what_is_wrong(
    desk: Desk, change: dict[str, Any], status: int, code: str
) -> None:
    admin = await desk.user("admin")
    await desk.user("attendant", email="taken@empresa.com.br")
    body = {"email": "new@empresa.com.br", "name": "New", "role": "attendant"}
    body |= {"password": "good-password-1", **change}
    response = await desk.client.post("/api/v1/users", json=body, headers=desk.auth(admin))
    assert (await answer(response, status))["error"]["code"] == code
    listed = await answer(await desk.client.get("/api/v1/users", headers=desk.auth(admin)), 200)
    assert "new@empresa.com.br" not in {user["email"] for user in listed["items"]}


async def test_an_admin_changes_name_role_and_departments(desk: Desk) -> None:
    admin = await desk.user("admin")
    user = await desk.user("attendant", departments=[1, 2])
    await desk.user("attendant", departments=[3])

    path = f"/api/v1/users/{user.id}"
    changed = await answer(
        await desk.client.patch(
            path,
            json={"name": " Dora ", "role": "supervisor", "department_ids": [3]},
            headers=desk.auth(admin),
        ),
        200,
    )
    assert (changed["name"], changed["role"], changed["department_ids"]) == (
        "Dora",
        "supervisor",
        [3],
    )
    # Fields not given stay as they are; the change shows wherever the user is shown.
    kept = await answer(
        await desk.client.patch(path, json={"department_ids": []}, headers=desk.auth(admin)), 200
    )
    assert (kept["name"], kept["role"], kept["department_ids"]) == ("Dora", "supervisor", [])
    me = await answer(await desk.client.get("/api/v1/auth/me", headers=desk.auth(user)), 200)
    assert me["role"] == "supervisor"

    missing = await desk.client.patch(
        "/api/v1/users/999999", json={"name": "X"}, headers=desk.auth(admin)
    )
    assert (await answer(missing, 404))["error"]["code"] == "not_found"
    blank = await desk.client.patch(path, json={"name": "   "}, headers=desk.auth(admin))
    assert (await answer(blank, 422))["error"]["details"]["field"] == "name"


async def test_deactivating_a_user_ends_their_sign_ins(desk: Desk) -> None:
    admin = await desk.user("admin")
    user = await desk.user("attendant")
    token = await refresh_token(desk, user.email)

    response = await desk.client.patch(
        f"/api/v1/users/{user.id}", json={"is_active": False}, headers=desk.auth(admin)
    )
    assert (await answer(response, 200))["is_active"] is False
    assert (await refreshed(desk, token)).status == 401
    assert (await login(desk, user.email)).status == 401
    # Their access token stops working at once too.
    assert (await desk.client.get("/api/v1/auth/me", headers=desk.auth(user))).status == 401

    response = await desk.client.patch(
        f"/api/v1/users/{user.id}", json={"is_active": True}, headers=desk.auth(admin)
    )
    assert (await answer(response, 200))["is_active"] is True
    assert (await login(desk, user.email)).status == 200
    # Coming back does not bring back the sign-ins that were ended.
    assert (await answer(await refreshed(desk, token), 401))["error"]["code"] == "token_revoked"


async def test_the_last_active_admin_cannot_demote_or_deactivate_themselves(desk: Desk) -> None:
    admin = await desk.user("admin")
    path = f"/api/v1/users/{admin.id}"
    for change in ({"role": "supervisor"}, {"is_active": False}):
        response = await desk.client.patch(path, json=change, headers=desk.auth(admin))
        error = (await answer(response, 409))["error"]
        assert (error["code"], error["details"]["reason"]) == ("conflict", "last_admin")
    me = await answer(await desk.client.get("/api/v1/auth/me", headers=desk.auth(admin)), 200)
    assert (me["role"], me["is_active"]) == ("admin", True)

    # A deactivated admin does not count; an active one does.
    other = await desk.user("admin")
    await answer(
        await desk.client.patch(
            f"/api/v1/users/{other.id}", json={"is_active": False}, headers=desk.auth(admin)
        ),
        200,
    )
    response = await desk.client.patch(path, json={"role": "supervisor"}, headers=desk.auth(admin))
    await answer(response, 409)
    await answer(
        await desk.client.patch(
            f"/api/v1/users/{other.id}", json={"is_active": True}, headers=desk.auth(admin)
        ),
        200,
    )
    response = await desk.client.patch(path, json={"role": "supervisor"}, headers=desk.auth(admin))
    assert (await answer(response, 200))["role"] == "supervisor"


async def test_a_password_reset_ends_the_users_sign_ins(desk: Desk) -> None:
    admin = await desk.user("admin")
    user = await desk.user("attendant")
    tokens = [await refresh_token(desk, user.email) for _ in range(2)]

    path = f"/api/v1/users/{user.id}/password"
    await answer(
        await desk.client.post(path, json={"password": "nova-senha-123"}, headers=desk.auth(admin)),
        204,
    )
    for token in tokens:
        assert (await refreshed(desk, token)).status == 401
    assert (await login(desk, user.email)).status == 401
    assert (await login(desk, user.email, "nova-senha-123")).status == 200

    short = await desk.client.post(path, json={"password": "short"}, headers=desk.auth(admin))
    assert (await answer(short, 422))["error"]["details"]["field"] == "password"
    missing = await desk.client.post(
        "/api/v1/users/424242/password",
        json={"password": "nova-senha-123"},
        headers=desk.auth(admin),
    )
    await answer(missing, 404)


async def test_every_users_operation_is_in_the_openapi_document(desk: Desk) -> None:
    doc = await (await desk.client.get("/api/v1/openapi.json")).json()
    paths = doc["paths"]
    operations = [
        paths["/api/v1/users"]["get"],
        paths["/api/v1/users"]["post"],
        paths["/api/v1/users/{id}"]["patch"],
        paths["/api/v1/users/{id}/password"]["post"],
    ]
    assert all(op["x-roles"] == ["admin"] for op in operations)
    assert {"UserList", "UserCreate", "UserPatch", "PasswordReset", "UserOut"} <= set(
        doc["components"]["schemas"]
    )
    assert "201" in paths["/api/v1/users"]["post"]["responses"]


async def test_two_last_admins_stepping_down_at_once_leave_one_admin(desk: Desk) -> None:
    for _ in range(3):
        admins = [await desk.user("admin"), await desk.user("admin")]
        responses = await asyncio.gather(
            *(
                desk.client.patch(
                    f"/api/v1/users/{admin.id}",
                    json={"role": "supervisor"},
                    headers=desk.auth(admin),
                )
                for admin in admins
            )
        )
        assert sorted(r.status for r in responses) == [200, 409]
        # The one refused stays admin; demote them by hand to set up the next round.
        stayed = admins[[r.status for r in responses].index(409)]
        async with desk.app[keys.SESSIONS].begin() as db:
            await db.execute(update(User).where(User.id == stayed.id).values(role=Role.SUPERVISOR))
