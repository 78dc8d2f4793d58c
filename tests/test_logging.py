"""Logs: JSON lines off a terminal, readable lines on one, and a request id on every line
written while a request is handled."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from core.app import create_app
from tests.conftest import make_settings, plain_structlog
from zapdesk.log import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    plain_structlog()
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_service_and_bound_context() -> None:
    stream = io.StringIO()
    configure_logging("info", "auto", service="core", stream=stream)
    with structlog.contextvars.bound_contextvars(session_id="loja-centro"):
        structlog.get_logger("zapdesk.test").info("session_connected", phone="5511999990000")
    logging.getLogger("aiohttp.server").warning("from the standard library")
    structlog.get_logger("zapdesk.test").debug("below the level")

    first, second = lines(stream)
    assert first["event"] == "session_connected"
    assert first["service"] == "core"
    assert first["session_id"] == "loja-centro"
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "from the standard library"
    assert second["service"] == "core"


@pytest.mark.usefixtures("restore_logging")
def test_console_format_is_readable_text() -> None:
    stream = io.StringIO()
    configure_logging("info", "console", service="up", stream=stream)
    structlog.get_logger("zapdesk.test").info("migrating", database="sqlite")
    text = stream.getvalue()
    assert "migrating" in text
    assert "database=sqlite" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.usefixtures("restore_logging")
async def test_each_request_is_logged_with_its_request_id(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", service="core", stream=stream)
    client = await aiohttp_client(create_app(make_settings(tmp_path, database_url)))
    response = await client.get("/api/v1/missing", headers={"X-Request-ID": "req-123"})
    assert response.status == 404
    requests = [line for line in lines(stream) if line["event"] == "request"]
    assert requests == [
        {
            **requests[0],
            "request_id": "req-123",
            "method": "GET",
            "path": "/api/v1/missing",
            "status": 404,
        }
    ]
