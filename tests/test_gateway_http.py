"""The gateway's HTTP surface without sessions: health, metrics, the token, JSON errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.app import DELIVERY, create_app
from gateway.keys import OUTBOX
from gateway.settings import GatewaySettings, Settings
from sessions.events import SessionStatusEvent, StatusData
from sessions.states import SessionState
from zapdesk.settings import RuntimeSettings, S3Settings, ServiceSettings

TOKEN = "test-gateway-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def gateway_settings(data_dir: Path, **gateway: Any) -> Settings:
    return Settings(
        runtime=RuntimeSettings(data_dir=data_dir),
        services=ServiceSettings(
            webhook_secret=SecretStr("test-webhook-secret"),
            gateway_token=SecretStr(TOKEN),
            core_url="http://127.0.0.1:9",
        ),
        gateway=GatewaySettings(credential_key=SecretStr("test-credential-key"), **gateway),
        s3=S3Settings(),
    )


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Any:
    return await aiohttp_client(create_app(gateway_settings(tmp_path / "data")))


async def test_health_and_metrics_need_no_token(client: Any) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "alive"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    metrics = await client.get("/metrics")
    assert metrics.status == 200
    text = await metrics.text()
    assert 'zapdesk_gateway_sessions{state="connected"} 0.0' in text
    assert "zapdesk_gateway_outbox_depth 0.0" in text


async def test_the_api_needs_the_gateway_token(client: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await client.get("/sessions", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    response = await client.get("/sessions", headers=AUTH)
    assert response.status == 200
    assert await response.json() == {"sessions": []}


async def test_bad_requests_get_stable_codes(client: Any) -> None:
    missing = await client.get("/sessions/nope", headers=AUTH)
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"

    not_json = await client.post("/sessions", data="{", headers=AUTH)
    assert not_json.status == 400
    assert (await not_json.json())["error"]["code"] == "bad_request"

    bad_id = await client.post("/sessions", json={"id": "não pode"}, headers=AUTH)
    assert bad_id.status == 422
    assert (await bad_id.json())["error"]["code"] == "validation_error"

    bad_send = await client.post("/sessions/x/messages", json={"type": "send.fax"}, headers=AUTH)
    assert bad_send.status == 422
    body = await bad_send.json()
    assert body["error"]["details"]["errors"][0]["field"] == ""


async def test_events_core_refused_are_listed_and_can_be_retried(client: Any) -> None:
    outbox = client.app[OUTBOX]
    await client.app[DELIVERY].stop()  # core is unreachable here; keep the event where it is
    event = SessionStatusEvent(
        session_id="loja",
        data=StatusData(state=SessionState.CONNECTED, detail="Connected to WhatsApp."),
    )
    await outbox.append([event])
    (stored,) = await outbox.claim(10)
    await outbox.park(stored.seq, "422 validation_error: chat is not a JID", 422)

    listed = await (await client.get("/outbox/parked", headers=AUTH)).json()
    assert [(p["id"], p["status"], p["reason"]) for p in listed["parked"]] == [
        (event.id, 422, "422 validation_error: chat is not a JID")
    ]
    assert listed["parked"][0]["event"]["type"] == "session.status"
    metrics = await (await client.get("/metrics")).text()
    assert "zapdesk_gateway_outbox_parked 1.0" in metrics

    retried = await client.post(f"/outbox/parked/{stored.seq}/retry", headers=AUTH)
    assert retried.status == 204
    assert outbox.depth() == 1
    again = await client.post(f"/outbox/parked/{stored.seq}/retry", headers=AUTH)
    assert again.status == 404
