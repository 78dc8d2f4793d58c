"""Channels proxied to the gateway: list with live state, linking, roles, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
