"""Incoming media end to end: a customer of the simulated WhatsApp sends a picture, the session
host downloads it into the gateway's data dir, the gateway serves it (``GET /media/{key}``) and
core streams it to the desk (``GET /api/v1/messages/{id}/media``) to those who may see it.

Everything is real and on loopback: the sim, the gateway with its host subprocesses, core on a
fresh database delivering from the gateway's outbox."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import select

from core import keys
from core.app import create_app as create_core
from core.storage.models import (
    ActorType,
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MessageType,
)
from gateway import keys as gateway_keys
from gateway.app import create_app as create_gateway
from gateway.media import MediaStore
from gateway.settings import GatewaySettings
from gateway.settings import Settings as GatewaySettingsAll
from sessions.sim.server import create_app as create_sim
from tests.conftest import WEBHOOK_SECRET, Desk, make_settings
from zapdesk.settings import RuntimeSettings, S3Settings, ServiceSettings

pytestmark = pytest.mark.timeout(60)

TOKEN = "media-gateway-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUSINESS = "5511900000001"
CUSTOMER = "5511988887770"
PICTURE = b"\x89PNG\r\n\x1a\n" + os.urandom(200_000)
KEY = hashlib.sha256(PICTURE).hexdigest()


async def until(check: Callable[[], Awaitable[Any]], within_s: float = 15) -> Any:
    deadline = time.monotonic() + within_s
    while not (found := await check()):
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.02)
    return found


def gateway_settings(data_dir: Path, sim_url: str, core_url: str) -> GatewaySettingsAll:
    return GatewaySettingsAll(
        runtime=RuntimeSettings(data_dir=data_dir),
        services=ServiceSettings(
            webhook_secret=SecretStr(WEBHOOK_SECRET),
            gateway_token=SecretStr(TOKEN),
            core_url=core_url,
        ),
        gateway=GatewaySettings(
            gateway_driver="sim",
            sim_url=sim_url,
            host_capacity=2,
            credential_key=SecretStr("media-credential-key"),
        ),
        s3=S3Settings(),
    )


def core_services(gateway_url: str) -> ServiceSettings:
    return ServiceSettings(
        webhook_secret=SecretStr(WEBHOOK_SECRET),
        gateway_token=SecretStr(TOKEN),
        gateway_url=gateway_url,
    )


class Stack:
    def __init__(self, desk: Desk, gateway: TestClient[web.Request, web.Application], sim: Any):
        self.desk, self.gateway, self.sim = desk, gateway, sim

    async def sim_post(self, path: str, body: dict[str, Any]) -> Any:
        async with ClientSession() as http, http.post(self.sim.make_url(path), json=body) as got:
            assert got.status in (200, 201), await got.text()
            return await got.json()

    async def gateway_json(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.gateway.request(method, path, headers=AUTH, **kwargs)
        return response.status, await response.json()

    async def link(self) -> None:
        status, _ = await self.gateway_json("POST", "/sessions", json={"id": "loja"})
        assert status == 201

        async def qr() -> Any:
            status, body = await self.gateway_json("GET", "/sessions/loja/qr")
            return body["code"] if status == 200 else None

        code = await until(qr)
        await self.sim_post(f"/phones/{BUSINESS}/scan", {"code": code, "name": "Loja"})

        async def connected() -> bool:
            _, body = await self.gateway_json("GET", "/sessions/loja")
            return bool(body["state"] == "connected")

        await until(connected)

    async def customer_sends_picture(self, caption: str) -> None:
        body = {
            "to": BUSINESS,
            "kind": "image",
            "mime": "image/png",
            "filename": "recibo.png",
            "caption": caption,
            "data_b64": base64.b64encode(PICTURE).decode(),
        }
        await self.sim_post(f"/customers/{CUSTOMER}/messages", body)

    async def message_with(self, caption: str) -> Message:
        async def found() -> Message | None:
            async with self.desk.app[keys.SESSIONS]() as db:
                return await db.scalar(select(Message).where(Message.body == caption))

        return await until(found)  # type: ignore[no-any-return]


@pytest.fixture
async def stack(
    aiohttp_client: Any,
    aiohttp_server: Any,
    unused_tcp_port_factory: Callable[[], int],
    tmp_path: Path,
    database_url: str,
) -> AsyncIterator[Stack]:
    sim = await aiohttp_server(create_sim(qr_first_s=30, qr_next_s=10))
    core_port, gateway_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    settings = make_settings(
        tmp_path, database_url, services=core_services(f"http://127.0.0.1:{gateway_port}")
    )
    desk = Desk(await aiohttp_client(TestServer(create_core(settings), port=core_port)))
    config = gateway_settings(
        tmp_path / "gateway", str(sim.make_url("")), f"http://127.0.0.1:{core_port}"
    )
    gateway = TestClient(TestServer(create_gateway(config), port=gateway_port))
    await gateway.start_server()
    yield Stack(desk, gateway, sim)
    await gateway.close()


async def test_a_customers_picture_reaches_the_desk_byte_for_byte(stack: Stack) -> None:
    await stack.link()
    await stack.customer_sends_picture("meu recibo")
    message = await stack.message_with("meu recibo")
    assert message.media is not None
    assert (message.media["key"], message.media["size"]) == (KEY, len(PICTURE))

    # The gateway serves what it stored, to its token only.
    served = await stack.gateway.get(f"/media/{KEY}", headers=AUTH)
    assert (served.status, served.content_type) == (200, "image/png")
    assert await served.read() == PICTURE
    refused = await stack.gateway.get(f"/media/{KEY}")
    assert refused.status == 401
    await refused.read()

    # Core streams it to whoever may see the conversation.
    desk = stack.desk
    async with desk.app[keys.SESSIONS].begin() as db:
        conversation = await db.get(Conversation, message.conversation_id)
        assert conversation is not None
        conversation.department_id = None
    url = f"/api/v1/messages/{message.id}/media"
    for who in (await desk.user("admin"), await desk.user("attendant", departments=[7])):
        got = await desk.client.get(url, headers=desk.auth(who))
        assert got.status == 200, await got.text()
        assert await got.read() == PICTURE
        assert got.headers["Content-Type"] == "image/png"
        assert got.headers["Content-Disposition"].startswith('inline; filename="recibo.png"')
        assert got.headers["Cache-Control"] == "private, max-age=86400"

    # Once the conversation is in department 7, an attendant of department 8 cannot see it.
    async with desk.app[keys.SESSIONS].begin() as db:
        conversation = await db.get(Conversation, message.conversation_id)
        assert conversation is not None
        conversation.department_id = 7
    outsider = await desk.user("attendant", departments=[8])
    hidden = await desk.client.get(url, headers=desk.auth(outsider))
    assert (hidden.status, (await hidden.json())["error"]["code"]) == (404, "not_found")

    # The same picture again is stored once.
    await stack.customer_sends_picture("de novo")
    again = await stack.message_with("de novo")
    assert again.media is not None
    assert again.media["key"] == KEY
    media_dir = stack.gateway.app[gateway_keys.SETTINGS].runtime.data_dir / "media"
    assert sorted(path.name for path in media_dir.iterdir()) == [KEY, f"{KEY}.json"]


async def test_media_keys_are_strict_hex_so_nothing_else_on_disk_is_served(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "gateway"
    gateway = await aiohttp_client(
        create_gateway(gateway_settings(data_dir, "http://127.0.0.1:9", "http://127.0.0.1:9"))
    )
    key = MediaStore(data_dir / "media").put(b"%PDF-1.7 nota", "application/pdf", "nota.pdf")
    (data_dir / "media" / "secret.txt").write_text("not a media file")

    served = await gateway.get(f"/media/{key}", headers=AUTH)
    assert (served.status, served.content_type) == (200, "application/pdf")
    assert await served.read() == b"%PDF-1.7 nota"
    for bad in (
        "..%2Fgateway.db",
        "..%2F..%2Fetc%2Fpasswd",
        "secret.txt",
        f"{key}.json",
        key.upper(),
        key[:-1],
        "0" * 64,  # well formed, but no such file
    ):
        refused = await gateway.get(f"/media/{bad}", headers=AUTH)
        body = await refused.json()
        assert (refused.status, body["error"]["code"]) == (404, "media_not_found"), bad


async def conversation_with(desk: Desk, session_id: str, media: dict[str, Any] | None) -> int:
    """A received message in a new conversation; answers the message's id."""
    async with desk.app[keys.SESSIONS].begin() as db:
        channel = Channel(session_id=session_id, name="Loja", status="connected")
        contact = Contact(name="Ana", attributes={})
        db.add_all([channel, contact])
        await db.flush()
        conversation = Conversation(channel_id=channel.id, contact_id=contact.id)
        db.add(conversation)
        await db.flush()
        message = Message(
            conversation_id=conversation.id,
            channel_id=channel.id,
            wa_message_id="W1",
            direction=Direction.INBOUND,
            author_type=ActorType.CONTACT,
            type=MessageType.IMAGE,
            media=media,
            status=MessageStatus.RECEIVED,
        )
        db.add(message)
        await db.flush()
        return message.id


async def test_core_says_which_part_is_missing(
    aiohttp_client: Any, tmp_path: Path, database_url: str, unused_tcp_port: int
) -> None:
    """No such message (or a hidden one): not_found; no downloaded file: media_not_found; the
    gateway down: 503 gateway_unavailable."""
    settings = make_settings(
        tmp_path, database_url, services=core_services(f"http://127.0.0.1:{unused_tcp_port}")
    )
    desk = Desk(await aiohttp_client(create_core(settings)))
    headers = desk.auth(await desk.user("supervisor"))
    undownloaded = await conversation_with(desk, "a", {"mime": "image/jpeg", "size": 10})
    downloaded = await conversation_with(desk, "b", {"mime": "image/jpeg", "key": KEY})

    cases = [(undownloaded + downloaded + 100, 404, "not_found")]
    cases += [(undownloaded, 404, "media_not_found"), (downloaded, 503, "gateway_unavailable")]
    for message_id, status, code in cases:
        got = await desk.client.get(f"/api/v1/messages/{message_id}/media", headers=headers)
        assert (got.status, (await got.json())["error"]["code"]) == (status, code)
