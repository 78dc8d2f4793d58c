"""Core's HTTP skeleton as a client sees it: health, readiness, errors, headers, the web UI."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core.app import create_app
from core.settings import RedisSettings, WebSettings
from core.storage.migrations import head_revision
from tests.conftest import make_settings
from zapdesk.errors import Conflict

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def client_for(aiohttp_client: Any, tmp_path: Path) -> Callable[..., Awaitable[Client]]:
    async def make(database_url: str, **concerns: Any) -> Client:
        app = create_app(make_settings(tmp_path, database_url, **concerns))
        return await aiohttp_client(app)  # type: ignore[no-any-return]

    return make


async def test_healthz_answers_alive(client_for: Any, database_url: str) -> None:
    client = await client_for(database_url)
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "alive"}


async def test_readyz_when_the_database_is_at_head(client_for: Any, database_url: str) -> None:
    client = await client_for(database_url)
    response = await client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": head_revision(), "redis": "not configured"},
    }


async def test_readyz_says_what_to_run_when_not_migrated(
    client_for: Any, empty_database_url: str
) -> None:
    client = await client_for(empty_database_url)
    response = await client.get("/readyz")
    assert response.status == 503
    error = (await response.json())["error"]
    assert error["code"] == "not_ready"
    assert "zapdesk migrate" in error["message"]
    assert error["details"]["checks"]["database"] == "ok"


async def test_readyz_when_the_database_is_unreachable(client_for: Any) -> None:
    client = await client_for("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    response = await client.get("/readyz")
    assert response.status == 503
    error = (await response.json())["error"]
    assert error["code"] == "not_ready"
    assert "database" in error["details"]["problems"]


@pytest.mark.redis
async def test_readyz_checks_redis_when_configured(
    client_for: Any, database_url: str, redis_server: str
) -> None:
    client = await client_for(database_url, redis=RedisSettings(redis_url=redis_server))
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"]["redis"] == "ok"


async def test_readyz_reports_unreachable_redis(client_for: Any, database_url: str) -> None:
    client = await client_for(database_url, redis=RedisSettings(redis_url="redis://127.0.0.1:1/0"))
    response = await client.get("/readyz")
    assert response.status == 503
    assert "redis" in (await response.json())["error"]["details"]["problems"]


async def test_errors_are_json_with_stable_codes(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    app = create_app(make_settings(tmp_path, database_url))

    async def conflict(request: web.Request) -> web.Response:
        raise Conflict("Already taken.", details={"field": "email"})

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app.router.add_get("/api/test/conflict", conflict)
    app.router.add_get("/api/test/crash", crash)
    client = await aiohttp_client(app)

    response = await client.get("/api/test/conflict")
    assert response.status == 409
    assert await response.json() == {
        "error": {"code": "conflict", "message": "Already taken.", "details": {"field": "email"}}
    }

    response = await client.get("/api/test/crash")
    assert response.status == 500
    text = await response.text()
    assert (await response.json())["error"]["code"] == "internal_error"
    assert "secret internals" not in text
    assert "Traceback" not in text

    for method in ("GET", "POST"):
        response = await client.request(method, "/api/v1/does-not-exist")
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"

    response = await client.post("/healthz")
    assert response.status == 405
    assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_every_response_has_security_headers_and_a_request_id(
    client_for: Any, database_url: str
) -> None:
    client = await client_for(database_url)
    for path in ("/healthz", "/api/v1/nothing"):
        response = await client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])

    given = await client.get("/healthz", headers={"X-Request-ID": "lb-42.abc"})
    assert given.headers["X-Request-ID"] == "lb-42.abc"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "x" * 65})
    assert hostile.headers["X-Request-ID"] != "x" * 65


async def test_the_web_ui_is_served_with_the_right_caching(
    client_for: Any, database_url: str, tmp_path: Path
) -> None:
    dist = tmp_path / "built"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>zapdesk</title>")
    (dist / "assets" / "index-3f9a.js").write_text("console.log('oi')")
    client = await client_for(database_url, web=WebSettings(webui_dir=dist))

    for path in ("/", "/inbox/42"):
        page = await client.get(path)
        assert page.status == 200
        assert "<title>zapdesk</title>" in await page.text()
        assert page.headers["Cache-Control"] == "no-cache"

    asset = await client.get("/assets/index-3f9a.js")
    assert asset.status == 200
    assert "immutable" in asset.headers["Cache-Control"]
    assert (await client.get("/assets/missing.js")).status == 404


async def test_a_missing_web_ui_build_says_how_to_build_it(
    client_for: Any, database_url: str
) -> None:
    client = await client_for(database_url)
    response = await client.get("/")
    assert response.status == 404
    assert "make up" in (await response.json())["error"]["message"]
