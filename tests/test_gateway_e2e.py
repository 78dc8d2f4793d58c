"""The gateway end to end: the simulated WhatsApp on loopback, the supervisor with real
session-host subprocesses, and a receiver standing in for core that checks every signature.

Link a number by QR, receive a customer's message, send a reply with receipts coming back,
survive a host killed with SIGKILL, restore sessions after a restart (from S3 too)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from gateway.app import create_app
from gateway.keys import SUPERVISOR
from gateway.registry import Registry
from gateway.settings import GatewaySettings, Settings
from sessions.events import EVENT, Event
from sessions.signing import HEADER, BadSignature, verify
from sessions.sim.server import create_app as create_sim
from tests.test_credentials import ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY, running_s3_server
from zapdesk.settings import RuntimeSettings, S3Settings, ServiceSettings

pytestmark = pytest.mark.timeout(120)

SECRET = "e2e-webhook-secret"
TOKEN = "e2e-gateway-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUSINESS = "5511900000001"
CUSTOMER = "5511988887770"  # even: addressed by phone number
CUSTOMER_JID = f"{CUSTOMER}@s.whatsapp.net"


class Receiver:
    """Core's stand-in: verifies the signature, keeps events by id (deduplicated)."""

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self.bad_signatures = 0
        self.changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(SECRET, request.headers.get(HEADER), body)
        except BadSignature:
            self.bad_signatures += 1
            return web.json_response({"error": {"code": "bad_signature"}}, status=401)
        for raw in (await request.json())["events"]:
            event = EVENT.validate_python(raw)
            self.events.setdefault(event.id, event)
        self.changed.set()
        return web.json_response({"accepted": True})

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events.values() if e.type == kind]

    async def wait_for(self, check: Callable[[], Any], within_s: float = 20) -> Any:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if found := check():
                return found
            self.changed.clear()
            try:
                async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                    await self.changed.wait()
            except TimeoutError:
                break
        raise AssertionError(f"not seen in {within_s} s; events: {self.summary()}")

    def status(self, state: str) -> Callable[[], list[Any]]:
        return lambda: [e for e in self.of("session.status") if e.data.state == state]

    def summary(self) -> list[str]:
        return [
            f"{e.type}:{getattr(e.data, 'state', '')}{getattr(e.data, 'reason', '') or ''}"
            for e in self.events.values()
        ]


def settings(data_dir: Path, sim_url: str, core_url: str, **s3: Any) -> Settings:
    return Settings(
        runtime=RuntimeSettings(data_dir=data_dir),
        services=ServiceSettings(
            webhook_secret=SecretStr(SECRET), gateway_token=SecretStr(TOKEN), core_url=core_url
        ),
        gateway=GatewaySettings(
            gateway_driver="sim",
            sim_url=sim_url,
            host_capacity=2,
            credential_key=SecretStr("e2e-credential-key"),
        ),
        s3=S3Settings(**s3),
    )


class World:
    def __init__(self, sim: TestServer, receiver: Receiver, core: TestServer, tmp: Path) -> None:
        self.sim, self.receiver, self.core, self.tmp = sim, receiver, core, tmp
        self.phone = ClientSession(base_url=str(sim.make_url("/")))
        self.gateway: TestClient[web.Request, web.Application] | None = None

    async def start_gateway(self, data_dir: Path | None = None, **s3: Any) -> Any:
        config = settings(
            data_dir or self.tmp / "data",
            str(self.sim.make_url("")),
            str(self.core.make_url("")),
            **s3,
        )
        self.gateway = TestClient(TestServer(create_app(config)))
        await self.gateway.start_server()
        return self.gateway

    async def stop_gateway(self) -> None:
        if self.gateway is not None:
            await self.gateway.close()
            self.gateway = None

    async def api(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        assert self.gateway is not None
        response = await self.gateway.request(method, path, headers=AUTH, **kwargs)
        text = await response.text()
        assert response.status == status, text
        return await response.json() if text else None

    async def sim_post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.phone.post(path, json=body) as response:
            assert response.status in (200, 201), await response.text()
            return await response.json()

    async def sim_get(self, path: str) -> Any:
        async with self.phone.get(path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def link(self, session_id: str = "loja") -> None:
        await self.api("POST", "/sessions", status=201, json={"id": session_id, "name": "Loja"})
        qr = await self.receiver.wait_for(lambda: self.receiver.of("session.qr"))
        served = await self.api("GET", f"/sessions/{session_id}/qr")
        assert served["code"] == qr[-1].data.code
        assert self.gateway is not None
        for fmt, kind, start in (("png", "image/png", b"\x89PNG"), ("svg", "image/svg+xml", b"<")):
            image = await self.gateway.get(f"/sessions/{session_id}/qr?format={fmt}", headers=AUTH)
            assert (image.status, image.content_type) == (200, kind)
            assert (await image.read()).lstrip().startswith(start)
        await self.sim_post(f"/phones/{BUSINESS}/scan", {"code": served["code"], "name": "Loja"})
        await self.receiver.wait_for(self.receiver.status("connected"))

    def host_pid(self) -> int:
        assert self.gateway is not None
        supervisor = self.gateway.app[SUPERVISOR]
        pid = supervisor.placement["loja"].pid
        assert pid is not None
        return pid


@pytest.fixture
async def world(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[World]:
    receiver = Receiver()
    core = web.Application()
    core.router.add_post("/internal/events", receiver.handle)
    made = World(
        await aiohttp_server(create_sim(qr_first_s=30, qr_next_s=10)),
        receiver,
        await aiohttp_server(core),
        tmp_path,
    )
    yield made
    await made.stop_gateway()
    await made.phone.close()


async def test_link_receive_reply_and_see_the_ticks(world: World) -> None:
    await world.start_gateway()
    await world.link()
    session = await world.api("GET", "/sessions/loja")
    assert (session["state"], session["phone"]) == ("connected", BUSINESS)

    await world.sim_post(f"/customers/{CUSTOMER}/messages", {"to": BUSINESS, "text": "Oi!"})
    received = await world.receiver.wait_for(lambda: world.receiver.of("message.received"))
    assert received[0].data.text == "Oi!"
    assert received[0].data.chat.pn == CUSTOMER_JID

    reply = {"type": "send.text", "client_id": "c-1", "to": CUSTOMER_JID, "text": "Olá, Ana!"}
    result = await world.api("POST", "/sessions/loja/messages", json=reply)
    assert result["status"] == "sent"
    view = await world.sim_get(f"/customers/{CUSTOMER}/messages?to={BUSINESS}")
    assert "Olá, Ana!" in str(view)

    def status_of(state: str) -> Callable[[], list[Any]]:
        return lambda: [
            e
            for e in world.receiver.of("message.status")
            if result["wa_id"] in e.data.wa_ids and e.data.status == state
        ]

    await world.receiver.wait_for(status_of("delivered"))
    await world.sim_post(f"/customers/{CUSTOMER}/read", {"wa_ids": [result["wa_id"]]})
    await world.receiver.wait_for(status_of("read"))

    # The same client_id again answers the first result and sends nothing more.
    again = await world.api("POST", "/sessions/loja/messages", json=reply)
    assert again == result
    view = await world.sim_get(f"/customers/{CUSTOMER}/messages?to={BUSINESS}")
    assert str(view).count("Olá, Ana!") == 1
    assert world.receiver.bad_signatures == 0


async def test_once_core_hears_connected_the_gateway_shows_the_number(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Core, told "connected" through the outbox, may ask for the session before the
    gateway's registry row is written (here that write is slowed down): it sees the number."""
    write = Registry.set_status

    async def slow_write(self: Registry, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.5)
        return await write(self, *args, **kwargs)

    monkeypatch.setattr(Registry, "set_status", slow_write)
    await world.start_gateway()
    await world.link()
    session = await world.api("GET", "/sessions/loja")
    assert (session["state"], session["phone"]) == ("connected", BUSINESS)
    assert session["detail"] == world.receiver.status("connected")()[-1].data.detail
    assert session["connected_since"] is not None


async def test_a_host_killed_under_traffic_is_back_within_10_seconds(world: World) -> None:
    await world.start_gateway()
    await world.link()
    connected_before = len(world.receiver.of("session.status"))
    os.kill(world.host_pid(), signal.SIGKILL)
    killed_at = time.monotonic()
    for n in range(20):
        await world.sim_post(f"/customers/{CUSTOMER}/messages", {"to": BUSINESS, "text": f"m{n}"})

    def connected_again() -> list[Any]:
        later = world.receiver.of("session.status")[connected_before:]
        return [e for e in later if e.data.state == "connected"]

    await world.receiver.wait_for(connected_again, within_s=10)
    assert time.monotonic() - killed_at < 10
    crashed = world.receiver.status("reconnecting")()
    assert crashed[-1].data.reason == "host_crashed"
    texts = await world.receiver.wait_for(
        lambda: (
            (t := {e.data.text for e in world.receiver.of("message.received")})
            >= {f"m{n}" for n in range(20)}
            and t
        )
    )
    assert {f"m{n}" for n in range(20)} <= texts


async def test_a_restarted_gateway_restores_the_session_without_a_qr(world: World) -> None:
    await world.start_gateway()
    await world.link()
    await world.stop_gateway()
    qr_before = len(world.receiver.of("session.qr"))
    connected_before = len(world.receiver.status("connected")())

    await world.start_gateway()
    await world.receiver.wait_for(
        lambda: len(world.receiver.status("connected")()) > connected_before
    )
    assert len(world.receiver.of("session.qr")) == qr_before


async def test_credentials_come_back_from_s3_after_the_data_dir_is_wiped(world: World) -> None:
    with running_s3_server() as endpoint:
        s3 = {
            "bucket": BUCKET,
            "endpoint_url": endpoint,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SecretStr(SECRET_ACCESS_KEY),
        }
        first = world.tmp / "first"
        await world.start_gateway(first, **s3)
        await world.link()
        await world.stop_gateway()
        qr_before = len(world.receiver.of("session.qr"))
        connected_before = len(world.receiver.status("connected")())

        # A new machine: nothing local but the registry (the session list).
        second = world.tmp / "second"
        second.mkdir()
        (first / "gateway.db").rename(second / "gateway.db")
        await world.start_gateway(second, **s3)
        await world.receiver.wait_for(
            lambda: len(world.receiver.status("connected")()) > connected_before
        )
        assert len(world.receiver.of("session.qr")) == qr_before
        await world.stop_gateway()


async def test_a_connected_number_logs_out_and_is_deleted_in_one_call_each(world: World) -> None:
    await world.start_gateway()
    await world.link()
    await world.api("POST", "/sessions/loja/logout")
    await world.receiver.wait_for(world.receiver.status("logged_out"))
    session = await world.api("GET", "/sessions/loja")
    assert session["state"] == "logged_out"

    # Linked again (a new QR: the old credentials are gone), then deleted while connected.
    codes, connected = (
        len(world.receiver.of("session.qr")),
        len(world.receiver.status("connected")()),
    )
    await world.api("POST", "/sessions/loja/restart")
    qr = await world.receiver.wait_for(lambda: world.receiver.of("session.qr")[codes:])
    await world.sim_post(f"/phones/{BUSINESS}/scan", {"code": qr[-1].data.code, "name": "Loja"})
    await world.receiver.wait_for(lambda: world.receiver.status("connected")()[connected:])
    await world.api("DELETE", "/sessions/loja", status=204)
    await world.api("GET", "/sessions/loja", status=404)
