"""Sending: queued with a job, sent through the gateway by the worker, retried, failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select

from core import keys
from core.app import create_app
from core.jobs import backoff
from core.settings import DeskSettings, OutboundSettings
from core.storage.models import (
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Department,
    IdentityKind,
    Job,
    Message,
)
from tests.conftest import Desk, make_settings
from zapdesk.settings import ServiceSettings

TOKEN = "test-gateway-token"
CUSTOMER = "5511988887777@s.whatsapp.net"
FAST = OutboundSettings(
    send_timeout_s=2,
    send_retry_base_s=0.02,
    send_retry_max_s=0.1,
    typing_throttle_s=3,
)


@dataclass
class FakeGateway:
    """The gateway's HTTP API as core sees it: records requests, answers what it is told."""

    url: str = ""
    requests: list[tuple[str, str, Any, str]] = field(default_factory=list)
    # Per path, answers to give in turn (status, body); then the default.
    script: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0
    in_flight: set[str] = field(default_factory=set)  # chats with a send being answered
    overlapped: list[str] = field(default_factory=list)  # a chat's send while one was

    def sent(self) -> list[Any]:
        return [body for method, path, body, _ in self.requests if path.endswith("/messages")]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        auth = request.headers.get("Authorization", "")
        self.requests.append((request.method, request.path_qs, body, auth))
        if auth != f"Bearer {TOKEN}":
            return web.json_response(
                {"error": {"code": "unauthorized", "message": "no"}}, status=401
            )
        chat = body.get("to") if isinstance(body, dict) else None
        if chat in self.in_flight:
            self.overlapped.append(body.get("text", ""))
        if chat is not None:
            self.in_flight.add(chat)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return self.answer(request, body)
        finally:
            self.in_flight.discard(chat or "")

    def answer(self, request: web.Request, body: Any) -> web.StreamResponse:
        scripted = self.script.get(request.path)
        if scripted:
            status, answer = scripted.pop(0)
            if isinstance(answer, bytes):
                return web.Response(body=answer, status=status, content_type="image/png")
            return web.json_response(answer, status=status)
        return self.default(request, body)

    def default(self, request: web.Request, body: Any) -> web.Response:
        if request.path.endswith("/messages"):
            return web.json_response(
                {
                    "client_id": body["client_id"],
                    "status": "sent",
                    "wa_id": f"WA{body['client_id']}",
                }
            )
        if request.path == "/sessions" and request.method == "GET":
            return web.json_response({"sessions": self.sessions})
        if request.path == "/sessions" and request.method == "POST":
            return web.json_response(
                {"id": body["id"], "name": body["name"], "state": "starting"}, status=201
            )
        if request.method == "DELETE":
            return web.Response(status=204)
        if request.path.endswith(("/restart", "/logout")):
            return web.json_response({"id": request.path.split("/")[2], "state": "starting"})
        return web.Response(status=204)


@pytest.fixture
async def gateway(aiohttp_server: Any) -> FakeGateway:
    fake = FakeGateway()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


def services(url: str) -> ServiceSettings:
    return ServiceSettings(
        webhook_secret=SecretStr("test-webhook-secret"),
        gateway_token=SecretStr(TOKEN),
        gateway_url=url,
    )


async def make_desk(
    aiohttp_client: Any, tmp_path: Path, database_url: str, url: str, **concerns: Any
) -> Desk:
    concerns.setdefault("outbound", FAST)
    concerns.setdefault("desk", DeskSettings(jobs_poll_s=0.05))
    settings = make_settings(tmp_path, database_url, services=services(url), **concerns)
    return Desk(await aiohttp_client(create_app(settings)))


@pytest.fixture
async def desk(
    aiohttp_client: Any, tmp_path: Path, database_url: str, gateway: FakeGateway
) -> Desk:
    return await make_desk(aiohttp_client, tmp_path, database_url, gateway.url)


async def conversation(
    desk: Desk, status: ConversationStatus = ConversationStatus.QUEUED, jid: str = CUSTOMER
) -> int:
    async with desk.app[keys.SESSIONS].begin() as db:
        channel = await db.scalar(select(Channel).where(Channel.session_id == "main"))
        if channel is None:
            channel = Channel(session_id="main", name="Main", status="connected")
            db.add(channel)
        contact = Contact(name="Ana", attributes={})
        db.add(contact)
        await db.flush()
        db.add(ContactIdentity(contact_id=contact.id, jid=jid, kind=IdentityKind.PHONE))
        row = Conversation(channel_id=channel.id, contact_id=contact.id, status=status)
        db.add(row)
        await db.flush()
        return row.id


async def until(check: Callable[[], Awaitable[bool]], limit_s: float = 5) -> None:
    deadline = time.monotonic() + limit_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def message(desk: Desk, message_id: int) -> dict[str, Any]:
    async with desk.app[keys.SESSIONS]() as db:
        row = await db.get(Message, message_id)
        assert row is not None
        return {"status": row.status.value, "wa": row.wa_message_id, "error": row.error}


async def status_is(desk: Desk, message_id: int, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await message(desk, message_id))["status"] == status

    return check


async def test_send_is_queued_then_sent_once(desk: Desk, gateway: FakeGateway) -> None:
    user = await desk.user("attendant")
    conversation_id = await conversation(desk)
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "Olá, Ana!", "client_id": "c1"},
        headers=desk.auth(user),
    )
    assert response.status == 202, await response.text()
    body = await response.json()
    assert body["status"] == "pending"
    assert body["client_id"] == "c1"
    assert body["author_user_id"] == user.id
    await until(await status_is(desk, body["id"], "sent"))
    assert (await message(desk, body["id"]))["wa"] == "WAc1"
    [sent] = gateway.sent()
    assert sent == {"type": "send.text", "client_id": "c1", "to": CUSTOMER, "text": "Olá, Ana!"}
    assert gateway.requests[0][1] == "/sessions/main/messages"
    assert gateway.requests[0][3] == f"Bearer {TOKEN}"
    history = await desk.app[keys.BUS].since(0)
    assert history is not None
    seen = [(e.notice.type, e.notice.data.get("status")) for e in history]
    assert seen == [
        ("message.created", "pending"),
        ("conversation.event", None),  # "assigned": answering took it from the queue
        ("conversation.updated", "open"),
        ("message.updated", "sent"),
    ]
    # Answering took the queued conversation: open, assigned to the attendant.
    got = await desk.client.get(f"/api/v1/conversations/{conversation_id}", headers=desk.auth(user))
    shown = await got.json()
    assert shown["status"] == "open"
    assert shown["assignee_id"] == user.id

    again = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "Olá, Ana!", "client_id": "c1"},
        headers=desk.auth(user),
    )
    assert again.status == 202
    assert (await again.json())["id"] == body["id"]
    await asyncio.sleep(0.1)
    assert len(gateway.sent()) == 1
    async with desk.app[keys.SESSIONS]() as db:
        assert len((await db.scalars(select(Message))).all()) == 1


async def test_each_conversations_messages_go_out_in_the_order_they_were_written(
    desk: Desk, gateway: FakeGateway
) -> None:
    """Sends run in batches, several at once; a conversation's messages still reach the gateway
    one after the other, in order, and one the gateway refuses fails alone."""
    gateway.delay_s = 0.03  # batches overlap
    gateway.script["/sessions/main/messages"] = [(400, {"error": {"code": "bad", "message": "no"}})]
    user = await desk.user("admin")
    first = await conversation(desk)
    second = await conversation(desk, jid="5511977776666@s.whatsapp.net")
    written: dict[str, int] = {}
    for n in range(12):
        for name, conversation_id in (("a", first), ("b", second)):
            text = f"{name}{n}"
            response = await desk.client.post(
                f"/api/v1/conversations/{conversation_id}/messages",
                json={"text": text},
                headers=desk.auth(user),
            )
            assert response.status == 202, await response.text()
            written[text] = (await response.json())["id"]

    async def all_decided() -> bool:
        states = [(await message(desk, m))["status"] for m in written.values()]
        return all(state in ("sent", "failed") for state in states)

    await until(all_decided, limit_s=20)
    assert gateway.overlapped == []
    texts = [body["text"] for body in gateway.sent()]
    for name in "ab":
        assert [t for t in texts if t.startswith(name)] == [f"{name}{n}" for n in range(12)]
    decided = {text: (await message(desk, m))["status"] for text, m in written.items()}
    assert decided == {text: "failed" if text == texts[0] else "sent" for text in written}


async def test_bad_input_and_hidden_conversations(desk: Desk, gateway: FakeGateway) -> None:
    conversation_id = await conversation(desk)
    async with desk.app[keys.SESSIONS].begin() as db:
        row = await db.get(Conversation, conversation_id)
        assert row is not None
        row.department_id = None
    outsider = await desk.user("attendant", departments=[7])
    async with desk.app[keys.SESSIONS].begin() as db:
        row = await db.get(Conversation, conversation_id)
        assert row is not None
        from core.storage.models import Department

        db.add(Department(id=8, name="Other"))
        await db.flush()
        row.department_id = 8
    path = f"/api/v1/conversations/{conversation_id}/messages"
    hidden = await desk.client.post(path, json={"text": "x"}, headers=desk.auth(outsider))
    assert hidden.status == 404
    admin = await desk.user("admin")
    empty = await desk.client.post(path, json={"text": "  "}, headers=desk.auth(admin))
    assert empty.status == 422
    assert (await empty.json())["error"]["code"] == "validation_error"


async def test_gateway_down_then_up_is_retried_and_sent_once(
    aiohttp_client: Any,
    aiohttp_server: Any,
    tmp_path: Path,
    database_url: str,
    unused_tcp_port: int,
) -> None:
    fake = FakeGateway()
    desk = await make_desk(
        aiohttp_client, tmp_path, database_url, f"http://127.0.0.1:{unused_tcp_port}"
    )
    user = await desk.user("admin")
    conversation_id = await conversation(desk)
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "oi"},
        headers=desk.auth(user),
    )
    message_id = (await response.json())["id"]

    async def retried_twice() -> bool:
        async with desk.app[keys.SESSIONS]() as db:
            job = await db.scalar(select(Job))
            return job is not None and job.attempts >= 2

    await until(retried_twice)
    assert (await message(desk, message_id))["status"] == "pending"
    await aiohttp_server(fake.app(), port=unused_tcp_port)
    await until(await status_is(desk, message_id, "sent"))

    async def done() -> bool:  # the job ends just after the message is marked sent
        async with desk.app[keys.SESSIONS]() as db:
            return await db.scalar(select(Job)) is None

    await until(done)
    assert len(fake.sent()) == 1


def test_backoff_grows_with_jitter_up_to_the_ceiling() -> None:
    delays = [backoff(n, 1.0, 60.0) for n in range(1, 10)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4 <= delays[3] <= 8  # 8 s, minus up to half of jitter
    assert all(d <= 60 for d in delays)
    assert delays[-1] >= 30


async def test_session_not_connected_is_retried(desk: Desk, gateway: FakeGateway) -> None:
    busy = {"error": {"code": "session_unavailable", "message": "The session is not connected."}}
    gateway.script["/sessions/main/messages"] = [(409, busy), (503, busy)]
    user = await desk.user("admin")
    conversation_id = await conversation(desk)
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "oi"},
        headers=desk.auth(user),
    )
    message_id = (await response.json())["id"]
    await until(await status_is(desk, message_id, "sent"))
    assert len(gateway.sent()) == 3


async def test_refused_send_fails_with_a_reason(desk: Desk, gateway: FakeGateway) -> None:
    invalid = {"error": {"code": "validation_error", "message": "to: not a JID"}}
    gateway.script["/sessions/main/messages"] = [(422, invalid)]
    user = await desk.user("admin")
    conversation_id = await conversation(desk)
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "oi"},
        headers=desk.auth(user),
    )
    message_id = (await response.json())["id"]
    await until(await status_is(desk, message_id, "failed"))
    assert "to: not a JID" in (await message(desk, message_id))["error"]
    await asyncio.sleep(0.1)
    assert len(gateway.sent()) == 1


async def test_gives_up_after_max_attempts(
    aiohttp_client: Any, tmp_path: Path, database_url: str, unused_tcp_port: int
) -> None:
    few = FAST.model_copy(update={"send_max_attempts": 2})
    desk = await make_desk(
        aiohttp_client, tmp_path, database_url, f"http://127.0.0.1:{unused_tcp_port}", outbound=few
    )
    user = await desk.user("admin")
    conversation_id = await conversation(desk)
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "oi"},
        headers=desk.auth(user),
    )
    message_id = (await response.json())["id"]
    await until(await status_is(desk, message_id, "failed"))
    assert "after 2 attempts" in (await message(desk, message_id))["error"]


async def test_typing_is_throttled_and_paused_goes_through(
    desk: Desk, gateway: FakeGateway
) -> None:
    user = await desk.user("admin")
    conversation_id = await conversation(desk)
    path = f"/api/v1/conversations/{conversation_id}/typing"
    for state in ("typing", "typing", "paused", "typing"):
        response = await desk.client.post(path, json={"state": state}, headers=desk.auth(user))
        assert response.status == 204
    typed = [body for _, p, body, _ in gateway.requests if p.endswith("/typing")]
    assert [t["state"] for t in typed] == ["typing", "paused", "typing"]
    assert typed[0]["chat"] == CUSTOMER


async def test_typing_in_a_conversation_one_may_not_see_is_refused_and_never_sent(
    desk: Desk, gateway: FakeGateway
) -> None:
    conversation_id = await conversation(desk)
    async with desk.app[keys.SESSIONS].begin() as db:
        row = await db.get(Conversation, conversation_id)
        assert row is not None
        db.add(Department(id=5, name="Vendas"))
        await db.flush()
        row.department_id = 5
    outsider = await desk.user("attendant", departments=[2])
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/typing",
        json={"state": "typing"},
        headers=desk.auth(outsider),
    )
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    assert not [p for _, p, _, _ in gateway.requests if p.endswith("/typing")]


async def test_typing_is_best_effort(
    aiohttp_client: Any, tmp_path: Path, database_url: str, unused_tcp_port: int
) -> None:
    desk = await make_desk(
        aiohttp_client, tmp_path, database_url, f"http://127.0.0.1:{unused_tcp_port}"
    )
    user = await desk.user("admin")
    conversation_id = await conversation(desk)
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/typing",
        json={"state": "typing"},
        headers=desk.auth(user),
    )
    assert response.status == 204


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_workers_never_send_a_job_twice(
    aiohttp_client: Any, tmp_path: Path, database_url: str, gateway: FakeGateway
) -> None:
    gateway.delay_s = 0.005
    first = await make_desk(aiohttp_client, tmp_path / "a", database_url, gateway.url)
    second = await make_desk(aiohttp_client, tmp_path / "b", database_url, gateway.url)
    user = await first.user("admin")
    conversation_id = await conversation(first)
    ids = []
    for n in range(30):
        desk = first if n % 2 else second
        response = await desk.client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": f"m{n}", "client_id": f"k{n}"},
            headers=desk.auth(user),
        )
        ids.append((await response.json())["id"])

    async def all_sent() -> bool:
        async with first.app[keys.SESSIONS]() as db:
            return await db.scalar(select(Job)) is None

    await until(all_sent, limit_s=15)
    client_ids = [body["client_id"] for body in gateway.sent()]
    assert sorted(client_ids) == sorted(f"k{n}" for n in range(30))
