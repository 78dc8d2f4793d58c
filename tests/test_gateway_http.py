"""The gateway's HTTP skeleton: alive, with the same error shape and headers as core."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from gateway.app import create_app
from gateway.settings import Settings
from zapdesk.settings import RuntimeSettings, S3Settings, ServiceSettings


def gateway_settings() -> Settings:
    return Settings(
        runtime=RuntimeSettings(),
        services=ServiceSettings(webhook_secret=SecretStr("w"), gateway_token=SecretStr("t")),
        s3=S3Settings(),
    )


async def test_gateway_answers_health_and_json_errors(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(gateway_settings()))
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "alive"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]

    missing = await client.get("/sessions/nope")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
