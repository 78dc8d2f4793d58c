"""The websocket as the web app sees it: tickets and Origin, topics and rights, the inbox filtered
per user, a stalled browser dropped without holding the others, exact resume after a
reconnect (or resync), and "going away" at shutdown. On SQLite and PostgreSQL, in-process bus."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from pydantic import SecretStr

from core import keys
from core.app import create_app
from core.realtime.bus import Audience, Notice
from core.realtime.config import REALTIME, RealtimeConfig
from core.realtime.tickets import issue_ticket
from core.settings import DeskSettings, WebSettings
from core.storage.models import Channel, Contact, Conversation, Department
from tests.conftest import Desk, make_settings

PATH = "/api/v1/ws"
SECRET = "test-secret-key-that-is-long-enough-0123"  # make_settings' key

MakeDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture
def make_desk(aiohttp_client: Any, tmp_path: Path, database_url: str) -> MakeDesk:
    """A desk with realtime limits patched down (and other settings when given)."""

    async def make(config: RealtimeConfig | None = None, **concerns: Any) -> Desk:
        app = create_app(make_settings(tmp_path, database_url, **concerns))
        if config is not None:
            app[REALTIME] = config
        return Desk(await aiohttp_client(app))

    return make


# Helpers: tickets, sockets, frames.


async def ticket_for(desk: Desk, user: Any) -> str:
    response = await desk.client.post(f"{PATH}/ticket", headers=desk.auth(user))
    assert response.status == 200
    body = await response.json()
    assert body["expires_in"] == 30
    return str(body["ticket"])


async def open_ws(
    desk: Desk, user: Any, *, last_seq: int | None = None, origin: str | None = None
) -> ClientWebSocketResponse:
    params = {"ticket": await ticket_for(desk, user)}
    if last_seq is not None:
        params["last_seq"] = str(last_seq)
    ws: ClientWebSocketResponse = await desk.client.ws_connect(PATH, params=params, origin=origin)
    return ws


async def refusal(desk: Desk, params: dict[str, str], origin: str | None = None) -> tuple[int, Any]:
    """Status and error of a websocket handshake the server refuses (before upgrading)."""
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    if origin is not None:
        headers["Origin"] = origin
    response = await desk.client.get(PATH, params=params, headers=headers)
    return response.status, (await response.json())["error"]


async def frame(ws: ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=5)
    assert message.type is WSMsgType.TEXT, message
    parsed: dict[str, Any] = json.loads(message.data)
    return parsed


async def call(ws: ClientWebSocketResponse, message: dict[str, Any]) -> tuple[dict[str, Any], list]:
    """Sends a message; answers its result and the frames that came before it."""
    await ws.send_json(message)
    before = []
    while True:
        got = await frame(ws)
        if got["type"] == "result" and got["id"] == message["id"]:
            return got, before
        before.append(got)


async def subscribe(ws: ClientWebSocketResponse, *topics: str) -> list[dict[str, Any]]:
    result, before = await call(ws, {"id": "sub", "type": "subscribe", "topics": list(topics)})
    assert result == {"id": "sub", "type": "result", "ok": True}
    return before


async def until(ws: ClientWebSocketResponse, marker: str) -> list[Any]:
    """The ``n`` of every notice received up to the one whose ``n`` is ``marker``."""
    seen = []
    while True:
        got = await frame(ws)
        if "n" in got.get("data", {}):
            seen.append(got["data"]["n"])
            if got["data"]["n"] == marker:
                return seen


def inbox(n: Any, **audience: Any) -> Notice:
    return Notice("inbox", "conversation.updated", {"n": n}, Audience(**audience))


async def conversation(desk: Desk, department_id: int) -> int:
    async with desk.app[keys.SESSIONS].begin() as db:
        if await db.get(Department, department_id) is None:
            db.add(Department(id=department_id, name=f"Dep {department_id}"))
        channel = Channel(session_id=uuid.uuid4().hex[:12], name="Loja")
        contact = Contact(name="Cliente")
        db.add_all([channel, contact])
        await db.flush()
        row = Conversation(
            channel_id=channel.id, contact_id=contact.id, department_id=department_id
        )
        db.add(row)
        await db.flush()
        return row.id


# Admission: tickets and Origin.


async def test_the_websocket_opens_only_with_a_fresh_valid_ticket(desk: Desk) -> None:
    user = await desk.user("attendant")
    assert (await desk.client.post(f"{PATH}/ticket")).status == 401

    status, error = await refusal(desk, {})
    assert (status, error["code"], error["details"]["reason"]) == (401, "unauthorized", "missing")

    forged = issue_ticket("another-secret-key-that-is-long-enough", user.id, 30)
    expired = issue_ticket(SECRET, user.id, 30, now=time.time() - 31)
    good = await ticket_for(desk, user)
    someone_else = good.replace(f"v1.{user.id}.", f"v1.{user.id + 1}.", 1)
    for ticket, reason in [(forged, "invalid"), (someone_else, "invalid"), (expired, "expired")]:
        status, error = await refusal(desk, {"ticket": ticket})
        assert (status, error["details"]["reason"]) == (401, reason)

    ws = await desk.client.ws_connect(PATH, params={"ticket": good})
    assert await subscribe(ws, "me") == []
    await ws.close()
    status, error = await refusal(desk, {"ticket": good})
    assert (status, error["details"]["reason"]) == (401, "reused")


async def test_only_pages_of_this_site_may_open_the_websocket(
    make_desk: MakeDesk, tmp_path: Path
) -> None:
    web = WebSettings(
        secret_key=SecretStr(SECRET),
        webui_dir=tmp_path / "dist",
        public_url="https://desk.example.com",
    )
    desk = await make_desk(web=web)
    user = await desk.user("attendant")
    ticket = await ticket_for(desk, user)

    status, error = await refusal(desk, {"ticket": ticket}, origin="https://evil.example.com")
    assert (status, error["code"]) == (403, "permission_denied")

    # Refused before the ticket was looked at: it still opens a socket from a good origin.
    ws = await desk.client.ws_connect(
        PATH, params={"ticket": ticket}, origin="https://desk.example.com"
    )
    await ws.close()
    same_host = f"http://{desk.client.host}:{desk.client.port}"
    ws = await open_ws(desk, user, origin=same_host)
    await ws.close()


# Topics and rights.


async def test_a_topic_the_user_may_not_follow_is_refused_with_the_api_error_codes(
    desk: Desk,
) -> None:
    attendant, supervisor = await asyncio.gather(
        desk.user("attendant", departments=[1]), desk.user("supervisor", departments=[2])
    )
    mine = await conversation(desk, department_id=1)
    theirs = await conversation(desk, department_id=2)
    ws = await open_ws(desk, attendant)

    async def refused(message: dict[str, Any]) -> str:
        result, _ = await call(ws, message)
        assert result["ok"] is False
        return str(result["error"]["code"])

    denied = {
        "id": 1,
        "type": "subscribe",
        "topics": [f"conversation:{mine}", f"conversation:{theirs}"],
    }
    assert await refused(denied) == "permission_denied"
    assert (
        await refused({"id": 2, "type": "subscribe", "topics": ["sessions"]}) == "permission_denied"
    )
    assert (
        await refused({"id": 3, "type": "subscribe", "topics": ["conversation:999999"]})
        == "not_found"
    )
    assert (
        await refused({"id": 4, "type": "subscribe", "topics": ["weather"]}) == "validation_error"
    )
    assert await refused({"id": 5, "type": "resume", "seq": -1}) == "validation_error"
    await ws.send_str("{not json")
    assert (await frame(ws))["error"]["code"] == "bad_request"

    # Nothing of the refused subscription took: a notice of the allowed conversation does not come.
    await subscribe(ws, "me")
    bus = desk.app[keys.BUS]
    await bus.publish(
        [Notice(f"conversation:{mine}", "message.created", {"n": 1}, Audience(department_id=1))]
    )
    await bus.publish(
        [Notice("me", "notification.created", {"n": "end"}, Audience(user_id=attendant.id))]
    )
    assert await until(ws, "end") == ["end"]
    await subscribe(ws, f"conversation:{mine}", "inbox", "presence")
    await ws.close()

    ws = await open_ws(desk, supervisor)
    await subscribe(ws, "sessions", f"conversation:{theirs}")
    await ws.close()


async def test_each_user_gets_the_inbox_notices_they_may_see_and_their_own_notices(
    desk: Desk,
) -> None:
    first, second, supervisor, admin = await asyncio.gather(  # (argon2 is slow: in parallel)
        desk.user("attendant", departments=[1]),
        desk.user("attendant", departments=[2]),
        desk.user("supervisor", departments=[1, 2]),
        desk.user("admin"),
    )
    sockets = {}
    people = [("first", first), ("second", second), ("supervisor", supervisor), ("admin", admin)]
    for name, user in people:
        sockets[name] = await open_ws(desk, user)
        await subscribe(sockets[name], "inbox", "me")

    await desk.app[keys.BUS].publish(
        [
            inbox(1, department_id=1),
            inbox(2, department_id=2),
            inbox(3, department_id=3, assignee_id=first.id),  # assigned to them: they see it
            inbox(4),  # no department yet (bot, general queue): everyone
            Notice("me", "notification.created", {"n": 5}, Audience(user_id=first.id)),
            Notice("me", "notification.created", {"n": 6}, Audience(user_id=second.id)),
            Notice("sessions", "session.updated", {"n": 7}),  # nobody follows it here
            # Moved from department 1 to 3: whoever saw it there sees it go.
            inbox(8, department_id=3, was=(1, None)),
            inbox("end"),
        ]
    )
    assert await until(sockets["first"], "end") == [1, 3, 4, 5, 8, "end"]
    assert await until(sockets["second"], "end") == [2, 4, 6, "end"]
    # A supervisor sees their departments (3 is not theirs), an admin everything.
    assert await until(sockets["supervisor"], "end") == [1, 2, 4, 8, "end"]
    assert await until(sockets["admin"], "end") == [1, 2, 3, 4, 8, "end"]
    for ws in sockets.values():
        await ws.close()


async def test_presence_shows_who_connects_goes_away_and_leaves(make_desk: MakeDesk) -> None:
    desk = await make_desk(desk=DeskSettings(presence_offline_s=0.5, presence_beat_s=0.05))
    watcher, visitor = await asyncio.gather(desk.user("supervisor"), desk.user("attendant"))
    ws = await open_ws(desk, watcher)
    await subscribe(ws, "presence")

    async def next_presence() -> dict[str, Any]:
        while True:  # (the watcher may also see itself come online)
            got = await frame(ws)
            if got["type"] == "presence.updated" and got["data"]["user_id"] == visitor.id:
                assert got["topic"] == "presence"
                return dict(got["data"])

    other = await open_ws(desk, visitor)
    assert await next_presence() == {"user_id": visitor.id, "status": "online"}
    away = await desk.client.put(
        "/api/v1/presence", json={"status": "away"}, headers=desk.auth(visitor)
    )
    assert (await away.json())["status"] == "away"
    assert await next_presence() == {"user_id": visitor.id, "status": "away"}
    await desk.client.put("/api/v1/presence", json={"status": "online"}, headers=desk.auth(visitor))
    assert await next_presence() == {"user_id": visitor.id, "status": "online"}
    # A tab closed is not yet gone (a reload, a flaky network): offline once none is back.
    closed_at = time.monotonic()
    await other.close()
    assert await next_presence() == {"user_id": visitor.id, "status": "offline"}
    assert time.monotonic() - closed_at >= 0.4
    await ws.close()


# Backpressure.


async def test_a_client_that_stops_reading_is_closed_while_the_others_keep_receiving(
    make_desk: MakeDesk,
) -> None:
    desk = await make_desk(RealtimeConfig(send_queue=1))
    watcher, sleeper = await asyncio.gather(desk.user("supervisor"), desk.user("attendant"))
    fast = await open_ws(desk, watcher)
    await subscribe(fast, "inbox", "presence")
    slow = await open_ws(desk, sleeper)
    await subscribe(slow, "me")

    bus = desk.app[keys.BUS]
    blob = "x" * 128 * 1024  # fills the stalled socket's buffers within a few MB
    dropped_at: int | None = None
    for i in range(400):
        await bus.publish(
            [
                Notice("me", "notification.created", {"blob": blob}, Audience(user_id=sleeper.id)),
                inbox(i),
            ]
        )
        while True:  # the reading client gets every notice, in order, while the other stalls
            got = await frame(fast)
            if dropped_at is None and sleeper.id not in desk.app[keys.HUB].users():
                dropped_at = i
            if got["type"] == "conversation.updated":
                assert got["data"]["n"] == i
                break
        if dropped_at is not None and i >= dropped_at + 10:
            break
    assert dropped_at is not None, "the stalled client was never dropped"

    received = 0
    while (message := await slow.receive(timeout=5)).type is WSMsgType.TEXT:
        received += 1
    assert (message.type, message.data, message.extra) == (WSMsgType.CLOSE, 1013, "too slow")
    assert received < dropped_at + 1
    await fast.close()


# Reconnecting.


async def test_a_client_reconnecting_with_its_last_seq_gets_exactly_what_it_missed(
    desk: Desk,
) -> None:
    attendant = await desk.user("attendant", departments=[1])
    bus = desk.app[keys.BUS]
    ws = await open_ws(desk, attendant)
    await subscribe(ws, "inbox")
    await bus.publish([inbox(1, department_id=1)])
    last_seq = (await frame(ws))["seq"]
    await ws.close()

    await bus.publish(
        [
            inbox(2, department_id=1),
            inbox(3, department_id=2),  # not theirs
            inbox(4),
            Notice("conversation:99", "message.created", {"n": 5}),  # not followed
        ]
    )

    # ?last_seq on connect: the replay comes with the first subscribe, before its result.
    ws = await open_ws(desk, attendant, last_seq=last_seq)
    replay = await subscribe(ws, "inbox")
    assert [f["data"]["n"] for f in replay] == [2, 4]
    assert last_seq < replay[0]["seq"] < replay[1]["seq"]
    await bus.publish([inbox(6)])
    assert await until(ws, 6) == [6]  # live again, nothing twice
    await ws.close()

    # Or subscribe first, then resume with the last seq: a notice that came live in between
    # is not sent again.
    ws = await open_ws(desk, attendant)
    await subscribe(ws, "inbox")
    await bus.publish([inbox(7)])
    assert await until(ws, 7) == [7]
    result, replay = await call(ws, {"id": 9, "type": "resume", "seq": last_seq})
    assert result["ok"] is True
    assert [f["data"]["n"] for f in replay] == [2, 4, 6]
    await bus.publish([inbox(8)])
    assert await until(ws, 8) == [8]
    await ws.close()


async def test_a_client_too_far_behind_is_told_to_resync(make_desk: MakeDesk) -> None:
    desk = await make_desk(RealtimeConfig(replay=3))
    attendant = await desk.user("attendant")
    bus = desk.app[keys.BUS]
    ws = await open_ws(desk, attendant)
    await subscribe(ws, "inbox")
    await bus.publish([inbox(1)])
    last_seq = (await frame(ws))["seq"]
    await ws.close()

    await bus.publish([inbox(n) for n in range(2, 10)])
    ws = await open_ws(desk, attendant, last_seq=last_seq)
    before = await subscribe(ws, "inbox")
    assert [f["type"] for f in before] == ["resync"]
    assert before[0]["seq"] >= last_seq + 8
    await bus.publish([inbox(10)])
    assert await until(ws, 10) == [10]
    await ws.close()


# Shutdown.


async def test_shutdown_closes_every_socket_going_away(desk: Desk) -> None:
    users = await asyncio.gather(desk.user("attendant"), desk.user("admin"))
    sockets = [await open_ws(desk, user) for user in users]
    for ws in sockets:
        await subscribe(ws, "inbox")
    stopping = asyncio.create_task(desk.client.server.close())
    for ws in sockets:
        message = await ws.receive(timeout=5)
        assert (message.type, message.data, message.extra) == (WSMsgType.CLOSE, 1001, "going away")
    await stopping
