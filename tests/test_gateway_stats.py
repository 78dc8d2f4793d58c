"""The gateway's ``GET /stats``: the /metrics figures as JSON, with each session's history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_gateway_e2e import BUSINESS, CUSTOMER, World, world
from tests.test_gateway_http import AUTH, client

__all__ = ["client", "world"]


async def test_stats_need_the_token_and_start_empty(client: Any) -> None:
    refused = await client.get("/stats")
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "unauthorized"

    stats = await (await client.get("/stats", headers=AUTH)).json()
    assert stats["hosts"] == 0
    assert stats["host_restarts"] == 0
    assert (stats["outbox_depth"], stats["parked"]) == (0, 0)
    assert stats["sessions"] == []


@pytest.mark.timeout(120)
async def test_a_dropped_connection_shows_in_the_session_timeline(world: World) -> None:
    await world.start_gateway()
    await world.link()
    await world.sim_post(f"/customers/{CUSTOMER}/messages", {"to": BUSINESS, "text": "oi"})
    await world.receiver.wait_for(lambda: world.receiver.of("message.received"))

    # Every connection drops, and reconnecting fails until the outage is over.
    await world.sim_post("/faults/outage", {"seconds": 3})
    await world.receiver.wait_for(world.receiver.status("reconnecting"))

    def connected_again() -> bool:
        states = [e.data.state for e in world.receiver.of("session.status")]
        return "connected" in states[states.index("reconnecting") :]

    await world.receiver.wait_for(connected_again, within_s=30)
    stats = await world.api("GET", "/stats")
    assert stats["hosts"] == 1
    assert stats["host_restarts"] == 0
    assert stats["events_in"]["message.received"] == 1
    (session,) = stats["sessions"]
    assert session["id"] == "loja"
    assert session["state"] == "connected"
    assert session["last_event_age_s"] >= 0
    states = [change["state"] for change in session["timeline"]]
    assert states[-1] == "connected"
    # Lost once, whatever the failed attempts in between (each a change of reason).
    assert [c["reason"] for c in session["timeline"] if c["state"] == "reconnecting"][:2] == [
        "network",
        "connect_failed",
    ]
    assert session["reconnects"] == 1
    assert "qr" in states
    assert session["since"] == session["timeline"][-1]["at"]
