"""`ZAPDESK_CORE_WORKERS`: several core processes on one port, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis import Redis

from core.storage.migrations import upgrade
from sessions.events import EventBatch
from sessions.signing import HEADER, sign
from tests.test_ingest import received
from tests.test_up import free_port, gone

pytestmark = pytest.mark.timeout(90)
PASSWORD = "senha-forte-123"


def zapdesk(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zapdesk", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def core_env(tmp_path: Path, database: str, **extra: str) -> dict[str, str]:
    """The environment of a core process on ``database`` (migrated here), with fresh secrets."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ZAPDESK_")}
    upgrade(database)
    return {
        **keep,
        "ZAPDESK_DATA_DIR": str(tmp_path / "data"),
        "ZAPDESK_CORE_PORT": str(free_port()),
        "ZAPDESK_DATABASE_URL": database,
        "ZAPDESK_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "ZAPDESK_SECRET_KEY": secrets.token_urlsafe(32),
        "ZAPDESK_GATEWAY_TOKEN": secrets.token_urlsafe(24),
        "ZAPDESK_LOG_LEVEL": "warning",
        **extra,
    }


def create_admin(env: dict[str, str], email: str = "admin@empresa.com.br") -> None:
    created = zapdesk(
        "user",
        "create",
        "--email",
        email,
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return core_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'zapdesk.db'}")


@pytest.fixture
def redis_prefix(redis_server: str) -> Iterator[str]:
    prefix = f"zapdesk-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = Redis.from_url(redis_server)
    try:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
    finally:
        client.close()


def children_of(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_more_than_one_worker_without_redis_is_refused_in_one_line(env: dict[str, str]) -> None:
    done = zapdesk("core", env={**env, "ZAPDESK_CORE_WORKERS": "2"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ZAPDESK_CORE_WORKERS=2" in lines[0]
    assert "ZAPDESK_REDIS_URL" in lines[0]


def test_workers_share_the_port_and_every_socket_hears_every_message(
    env: dict[str, str], redis_server: str, redis_prefix: str
) -> None:
    env = {
        **env,
        "ZAPDESK_CORE_WORKERS": "2",
        "ZAPDESK_REDIS_URL": redis_server,
        "ZAPDESK_REDIS_PREFIX": redis_prefix,
    }
    create_admin(env)
    url = f"http://127.0.0.1:{env['ZAPDESK_CORE_PORT']}"
    process = subprocess.Popen(
        [sys.executable, "-m", "zapdesk", "core"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        asyncio.run(_until_ready(url, process))
        workers = children_of(process.pid)
        assert len(workers) == 2
        asyncio.run(_every_socket_hears_a_message(url, env["ZAPDESK_WEBHOOK_SECRET"]))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert all(gone(pid) for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()


async def _until_ready(url: str, process: subprocess.Popen[str]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail("core workers not ready after 30 s")


async def _every_socket_hears_a_message(url: str, webhook_secret: str) -> None:
    async with aiohttp.ClientSession() as http:
        # Sockets land on either worker (the kernel spreads connections over the two).
        sockets = [await _open_inbox(http, url) for _ in range(6)]
        body = EventBatch(events=[received("W1", "Oi, vocês abrem amanhã?")]).model_dump_json()
        headers = {HEADER: sign(webhook_secret, body.encode())}
        async with http.post(f"{url}/internal/events", data=body, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
        for ws in sockets:
            created = await _next_of(ws, "conversation.created")
            assert created["data"]["last_message_preview"] == "Oi, vocês abrem amanhã?"
            await ws.close()


async def _open_inbox(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    login = {"email": "admin@empresa.com.br", "password": PASSWORD}
    async with http.post(f"{url}/api/v1/auth/login", json=login) as response:
        token = (await response.json())["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{url}/api/v1/ws/ticket", headers=auth) as response:
        ticket = (await response.json())["ticket"]
    ws = await http.ws_connect(
        f"{url}/api/v1/ws", params={"ticket": ticket}, headers={"Origin": url}
    )
    await ws.send_json({"id": 1, "type": "subscribe", "topics": ["inbox"]})
    await _next_of(ws, "result")
    return ws


async def _next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        message = await ws.receive(timeout=10)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        frame: dict[str, Any] = json.loads(message.data)
        if frame["type"] == kind:
            return frame
