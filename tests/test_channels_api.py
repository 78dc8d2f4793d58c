"""Channels proxied to the gateway: list with live state, linking, roles, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.test_ingest import batch, received
from tests.test_outbound import TOKEN, FakeGateway, desk, gateway, make_desk

__all__ = ["desk", "gateway"]


async def test_create_list_and_proxy(desk: Any, gateway: FakeGateway) -> None:
    admin = await desk.user("admin")
    created = await desk.client.post(
        "/api/v1/channels",
        json={"name": "Vendas", "session_id": "vendas"},
        headers=desk.auth(admin),
    )
    assert created.status == 201, await created.text()
    channel = await created.json()
    assert gateway.requests[-1][:3] == ("POST", "/sessions", {"id": "vendas", "name": "Vendas"})
    assert gateway.requests[-1][3] == f"Bearer {TOKEN}"
    gateway.sessions = [{"id": "vendas", "state": "qr", "detail": "Scan the QR code."}]
    listed = await (await desk.client.get("/api/v1/channels", headers=desk.auth(admin))).json()
    assert listed["gateway_reachable"] is True
    assert listed["items"][0]["status"] == "qr"
    assert listed["items"][0]["live"] is True
    gateway.sessions = [
        {
            "id": "vendas",
            "state": "connected",
            "phone": "5511988887777",
            "connected_since": "2026-11-22T09:30:00+00:00",
        }
    ]
    listed = await (await desk.client.get("/api/v1/channels", headers=desk.auth(admin))).json()
    shown = listed["items"][0]
    assert (shown["status"], shown["phone"]) == ("connected", "5511988887777")
    assert shown["connected_since"] == "2026-11-22T09:30:00Z"

    base = f"/api/v1/channels/{channel['id']}"
    gateway.script["/sessions/vendas/qr"] = [
        (200, {"code": "2@abc", "index": 1, "expires_at": "2030-01-01T00:00:00Z"}),
        (200, b"\x89PNG-image"),
        (404, {"error": {"code": "not_found", "message": "No QR code to show."}}),
    ]
    qr = await desk.client.get(f"{base}/qr", headers=desk.auth(admin))
    assert (await qr.json())["code"] == "2@abc"
    png = await desk.client.get(f"{base}/qr?format=png", headers=desk.auth(admin))
    assert png.content_type == "image/png"
    assert await png.read() == b"\x89PNG-image"
    gone = await desk.client.get(f"{base}/qr", headers=desk.auth(admin))
    assert gone.status == 404
    assert (await gone.json())["error"]["code"] == "not_found"
    gateway.script["/sessions/vendas/pair-code"] = [
        (200, {"code": "ABCD-EFGH", "phone": "5511999999999", "expires_at": "2030-01-01T00:00:00Z"})
    ]
    paired = await desk.client.post(
        f"{base}/pair-code", json={"phone": "5511999999999"}, headers=desk.auth(admin)
    )
    assert (await paired.json())["code"] == "ABCD-EFGH"
    for action in ("restart", "logout"):
        answer = await desk.client.post(f"{base}/{action}", headers=desk.auth(admin))
        assert answer.status == 200
        assert gateway.requests[-1][:2] == ("POST", f"/sessions/vendas/{action}")
    deleted = await desk.client.delete(base, headers=desk.auth(admin))
    assert deleted.status == 204
    assert gateway.requests[-1][:2] == ("DELETE", "/sessions/vendas")
    listed = await (await desk.client.get("/api/v1/channels", headers=desk.auth(admin))).json()
    assert listed["items"] == []


async def test_roles(desk: Any, gateway: FakeGateway) -> None:
    attendant = await desk.user("attendant")
    refused = await desk.client.post(
        "/api/v1/channels", json={"name": "X"}, headers=desk.auth(attendant)
    )
    assert refused.status == 403
    listed = await desk.client.get("/api/v1/channels", headers=desk.auth(attendant))
    assert listed.status == 200
    assert not [r for r in gateway.requests if r[0] == "POST"]


async def test_gateway_down(
    aiohttp_client: Any, tmp_path: Path, database_url: str, unused_tcp_port: int
) -> None:
    desk = await make_desk(
        aiohttp_client, tmp_path, database_url, f"http://127.0.0.1:{unused_tcp_port}"
    )
    admin = await desk.user("supervisor")
    listed = await desk.client.get("/api/v1/channels", headers=desk.auth(admin))
    assert listed.status == 200
    assert (await listed.json())["gateway_reachable"] is False
    created = await desk.client.post(
        "/api/v1/channels", json={"name": "X"}, headers=desk.auth(admin)
    )
    assert created.status == 503
    assert (await created.json())["error"]["code"] == "gateway_unavailable"
    listed = await desk.client.get("/api/v1/channels", headers=desk.auth(admin))
    assert (await listed.json())["items"] == []  # nothing half-created


async def test_a_number_with_conversations_is_not_deleted_but_can_be_logged_out(
    desk: Any, gateway: FakeGateway
) -> None:
    admin = await desk.user("admin")
    created = await desk.client.post(
        "/api/v1/channels",
        json={"name": "Vendas", "session_id": "vendas"},
        headers=desk.auth(admin),
    )
    channel = await created.json()
    message = received("W-1", "Oi!").model_copy(update={"session_id": "vendas"})
    body = batch(message)
    stored = await desk.client.post("/internal/events", data=body, headers=desk.signed(body))
    assert stored.status == 200

    refused = await desk.client.delete(
        f"/api/v1/channels/{channel['id']}", headers=desk.auth(admin)
    )
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert error["code"] == "channel_in_use"
    assert error["details"] == {"conversations": 1}
    assert not [r for r in gateway.requests if r[0] == "DELETE"]  # the session is untouched
    listed = await (await desk.client.get("/api/v1/channels", headers=desk.auth(admin))).json()
    assert [c["id"] for c in listed["items"]] == [channel["id"]]


async def test_gateway_errors_reach_the_user_as_their_own_4xx_or_a_502(
    desk: Any, gateway: FakeGateway
) -> None:
    admin = await desk.user("admin")
    created = await desk.client.post(
        "/api/v1/channels",
        json={"name": "Vendas", "session_id": "vendas"},
        headers=desk.auth(admin),
    )
    base = f"/api/v1/channels/{(await created.json())['id']}"
    gateway.script["/sessions/vendas/restart"] = [
        (500, {"error": {"code": "internal_error", "message": "boom"}}),
        (409, {"error": {"code": "session_busy", "message": "Linking in progress."}}),
    ]
    failed = await desk.client.post(f"{base}/restart", headers=desk.auth(admin))
    assert failed.status == 502
    assert (await failed.json())["error"]["code"] == "gateway_error"
    busy = await desk.client.post(f"{base}/restart", headers=desk.auth(admin))
    assert busy.status == 409
    error = (await busy.json())["error"]
    assert (error["code"], error["message"]) == ("session_busy", "Linking in progress.")
