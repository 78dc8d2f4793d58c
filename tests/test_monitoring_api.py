"""GET /api/v1/monitoring: every number's session and traffic, the gateway, this core replica."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core import keys
from core.monitoring import PerMinute
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
from sessions.states import SessionState
from tests.conftest import Desk
from tests.test_ingest import post, received, session_status
from tests.test_outbound import FakeGateway, desk, gateway
from tests.test_realtime import open_ws

__all__ = ["desk", "gateway"]

URL = "/api/v1/monitoring"


def gateway_stats(**session: Any) -> dict[str, Any]:
    return {
        "hosts": 1,
        "host_restarts": 2,
        "outbox_depth": 3,
        "outbox_oldest_age_s": 1.5,
        "parked": 0,
        "delivered": 40,
        "delivery_failures": {},
        "latency_p50_s": 0.02,
        "latency_p99_s": 0.3,
        "events_in": {"message.received": 7, "session.status": 4},
        "sessions": [
            {
                "id": "main",
                "state": "connected",
                "reason": None,
                "since": "2026-11-22T01:00:05+00:00",
                "reconnects": 1,
                "last_event_at": "2026-11-22T01:10:00+00:00",
                "last_event_age_s": 12.5,
                "timeline": [
                    {"at": "2026-11-22T00:59:00+00:00", "state": "reconnecting", "reason": None},
                    {"at": "2026-11-22T01:00:05+00:00", "state": "connected", "reason": None},
                ],
                **session,
            }
        ],
    }


async def seed_traffic(desk: Desk) -> int:
    """Two messages in and one out in the last minutes, one in outside the hour."""
    now = datetime.now(UTC)  # not at import: a long test run would age the messages
    async with desk.app[keys.SESSIONS].begin() as db:
        channel = Channel(session_id="main", name="Loja", status="connected", status_at=now)
        contact = Contact(name="Ana", attributes={})
        db.add_all([channel, contact])
        await db.flush()
        conversation = Conversation(channel_id=channel.id, contact_id=contact.id)
        db.add(conversation)
        await db.flush()

        def message(n: int, direction: Direction, ago: timedelta) -> Message:
            return Message(
                conversation_id=conversation.id,
                channel_id=channel.id,
                wa_message_id=f"wa{n}",
                direction=direction,
                author_type=ActorType.CONTACT if direction is Direction.INBOUND else ActorType.USER,
                type=MessageType.TEXT,
                body="oi",
                status=MessageStatus.RECEIVED,
                created_at=now - ago,
            )

        db.add_all(
            [
                message(1, Direction.INBOUND, timedelta(seconds=130)),
                message(2, Direction.INBOUND, timedelta(seconds=130)),
                message(3, Direction.OUTBOUND, timedelta(seconds=1)),
                message(4, Direction.INBOUND, timedelta(minutes=90)),
            ]
        )
        return channel.id


async def test_admins_see_each_number_with_its_traffic_and_the_gateway(
    desk: Desk, gateway: FakeGateway
) -> None:
    channel_id = await seed_traffic(desk)
    gateway.script["/stats"] = [(200, gateway_stats())]
    admin = await desk.user("admin")

    response = await desk.client.get(URL, headers=desk.auth(admin))
    assert response.status == 200
    body = await response.json()
    assert body["gateway_reachable"] is True
    (channel,) = body["channels"]
    assert channel["id"] == channel_id
    assert (channel["name"], channel["state"], channel["reconnects"]) == ("Loja", "connected", 1)
    assert channel["last_event_age_s"] == 12.5
    assert [c["state"] for c in channel["timeline"]] == ["reconnecting", "connected"]
    assert len(channel["messages_in"]) == len(channel["messages_out"]) == 60
    # Sixty one-minute buckets, this minute last: the message of 90 minutes ago is outside.
    assert sum(channel["messages_in"]) == 2
    assert 2 in channel["messages_in"][-4:-1]
    assert sum(channel["messages_out"]) == 1
    assert channel["messages_out"][-2:] in ([0, 1], [1, 0])

    figures = body["gateway"]
    assert (figures["hosts"], figures["host_restarts"]) == (1, 2)
    assert (figures["outbox_depth"], figures["outbox_oldest_age_s"]) == (3, 1.5)
    assert (figures["latency_p50_s"], figures["latency_p99_s"]) == (0.02, 0.3)
    assert figures["events_in"]["message.received"] == 7
    assert "sessions" not in figures
    assert ("GET", "/stats") in {(m, p) for m, p, _, _ in gateway.requests}


async def test_a_gateway_that_is_down_is_said_not_failed(desk: Desk, gateway: FakeGateway) -> None:
    await seed_traffic(desk)
    gateway.script["/stats"] = [(503, {"error": {"code": "unavailable", "message": "no"}})]
    admin = await desk.user("admin")

    body = await (await desk.client.get(URL, headers=desk.auth(admin))).json()
    assert body["gateway_reachable"] is False
    assert body["gateway"] is None
    (channel,) = body["channels"]
    # What core stored, without the history only the gateway keeps.
    assert (channel["state"], channel["reconnects"], channel["timeline"]) == ("connected", None, [])
    assert sum(channel["messages_in"]) == 2


async def test_core_counts_ingested_events_server_errors_and_websockets(
    desk: Desk, gateway: FakeGateway
) -> None:
    channel_id = await seed_traffic(desk)
    admin = await desk.user("admin")
    gateway.script["/stats"] = [(200, gateway_stats()), (200, gateway_stats())]
    before = (await (await desk.client.get(URL, headers=desk.auth(admin))).json())["core"]
    assert sum(before["ingest_per_minute"]) == 0
    assert sum(before["errors_per_minute"]) == 0
    assert before["websocket_clients"] == 0
    assert len(before["ingest_per_minute"]) == 15

    await post(desk, received("w-1"), session_status(SessionState.CONNECTED, datetime.now(UTC)))
    # The gateway fails a restart: core answers 502, which is a server error of its own.
    gateway.script["/sessions/main/restart"] = [(500, {"error": {"code": "boom"}})]
    failed = await desk.client.post(
        f"/api/v1/channels/{channel_id}/restart", headers=desk.auth(admin)
    )
    assert failed.status == 502
    ws = await open_ws(desk, admin)
    try:
        after = (await (await desk.client.get(URL, headers=desk.auth(admin))).json())["core"]
    finally:
        await ws.close()
    assert sum(after["ingest_per_minute"]) == 2
    assert sum(after["errors_per_minute"]) == 1
    assert after["websocket_clients"] == 1


async def test_only_admins_see_monitoring(desk: Desk) -> None:
    supervisor = await desk.user("supervisor")
    response = await desk.client.get(URL, headers=desk.auth(supervisor))
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "permission_denied"


def test_per_minute_counts_slide_with_the_clock() -> None:
    now = [600.0]  # minute 10
    counter = PerMinute(3, clock=lambda: now[0])
    counter.add(2)
    now[0] += 60
    counter.add()
    assert counter.series() == [0, 2, 1]
    now[0] += 120  # two quiet minutes: the first count has left the window
    assert counter.series() == [1, 0, 0]
    counter.add(5)
    assert counter.series() == [1, 0, 5]
    now[0] += 180
    assert counter.series() == [0, 0, 0]
