"""The desk's routing as its people see it: claiming (atomic), transferring with a note,
auto-assignment to online attendants with room, departments and their hours, and rights that
follow a person onto their open sockets. On SQLite and PostgreSQL, through the real API,
webhook and websocket."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import WSMsgType
from sqlalchemy import select, update

from core import keys
from core.desk.departments import is_open
from core.desk.presence import PRESENCE_KEEPER
from core.desk.unit import DESK
from core.jobs import JOBS
from core.realtime.bus import Audience, Notice
from core.storage.models import (
    ActorType,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Department,
    EventKind,
    Job,
    Message,
)
from tests.conftest import Desk
from tests.test_ingest import T0, maria, post, received
from tests.test_realtime import frame, open_ws, subscribe

API = "/api/v1"


def customer(n: int) -> str:
    return f"55119{n:08d}@s.whatsapp.net"


async def customers_write(desk: Desk, *numbers: int) -> list[int]:
    """Each customer writes (one batch each, in order); answers their conversations' ids."""
    for n in numbers:
        jid = customer(n)
        await post(desk, received(f"WA{n}", "Oi", peer=maria(jid, pn=jid), at=T0))
    async with desk.app[keys.SESSIONS]() as db:
        return list(await db.scalars(select(Conversation.id).order_by(Conversation.id)))


async def call(desk: Desk, user: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await desk.client.request(method, API + path, json=body, headers=desk.auth(user))
    answer = None if response.status == 204 else await response.json()
    return response.status, answer


async def conversations(desk: Desk) -> list[Conversation]:
    async with desk.app[keys.SESSIONS]() as db:
        return list(await db.scalars(select(Conversation).order_by(Conversation.id)))


async def audit(desk: Desk, conversation_id: int) -> list[ConversationEvent]:
    async with desk.app[keys.SESSIONS]() as db:
        return list(
            await db.scalars(
                select(ConversationEvent)
                .where(ConversationEvent.conversation_id == conversation_id)
                .order_by(ConversationEvent.id)
            )
        )


async def settled(desk: Desk, within_s: float = 15) -> None:
    """Every job due now has run (sends, sweeps)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        async with desk.app[keys.SESSIONS]() as db:
            waiting = await db.scalar(select(Job.id).where(Job.kind != "send").limit(1))
        if waiting is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("jobs still waiting")


async def until(check: Callable[[], Awaitable[bool]], within_s: float = 15) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within_s:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


# Claiming.


async def test_of_many_claims_at_once_exactly_one_wins(desk: Desk) -> None:
    [conversation_id] = await customers_write(desk, 1)
    attendants = await asyncio.gather(*(desk.user("attendant", departments=[1]) for _ in range(5)))
    attempts = [
        call(desk, a, "POST", f"/conversations/{conversation_id}/claim")
        for a in attendants
        for _ in range(10)
    ]
    answers = await asyncio.gather(*attempts)
    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 1, 409: 49}
    [(_, won)] = [(s, body) for s, body in answers if s == 200]
    winner = won["assignee_id"]
    assert won["status"] == "open"
    for (status, body), (attendant, _) in zip(
        answers, [(a, n) for a in attendants for n in range(10)], strict=True
    ):
        if status == 409 and attendant.id != winner:
            assert body["error"]["code"] == "conversation_taken"
    assigned = [e for e in await audit(desk, conversation_id) if e.kind is EventKind.ASSIGNED]
    assert [(e.actor_user_id, e.to_assignee_id, e.reason) for e in assigned] == [
        (winner, winner, "claimed")
    ]


async def test_a_conversation_one_may_not_see_cannot_be_claimed_and_a_closed_one_not_at_all(
    desk: Desk,
) -> None:
    [conversation_id] = await customers_write(desk, 1)
    outsider = await desk.user("attendant", departments=[9])
    status, body = await call(desk, outsider, "POST", f"/conversations/{conversation_id}/claim")
    assert (status, body["error"]["code"]) == (404, "not_found")
    member = await desk.user("attendant", departments=[1])
    assert (await call(desk, member, "POST", f"/conversations/{conversation_id}/resolve"))[0] == 200
    status, body = await call(desk, member, "POST", f"/conversations/{conversation_id}/claim")
    assert (status, body["error"]["code"]) == (409, "invalid_transition")


# Transferring.


async def test_a_transfer_moves_it_to_the_other_queue_with_a_note_and_a_word_to_the_customer(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    status, vendas = await call(
        desk, admin, "POST", "/departments", {"name": "Vendas", "member_ids": []}
    )
    assert status == 201, vendas
    ana = await desk.user("attendant", departments=[1])
    bruno = await desk.user("attendant", departments=[vendas["id"]])
    [conversation_id] = await customers_write(desk, 1)
    # Bruno does not see Atendimento's queue; Ana does.
    assert (await call(desk, bruno, "GET", f"/conversations/{conversation_id}"))[0] == 404
    assert (await call(desk, ana, "POST", f"/conversations/{conversation_id}/claim"))[0] == 200

    # Only whoever holds it (or a supervisor) may transfer it.
    intruder = await desk.user("attendant", departments=[1])
    status, body = await call(
        desk,
        intruder,
        "POST",
        f"/conversations/{conversation_id}/transfer",
        {"department_id": vendas["id"]},
    )
    assert (status, body["error"]["code"]) == (403, "permission_denied")

    status, moved = await call(
        desk,
        ana,
        "POST",
        f"/conversations/{conversation_id}/transfer",
        {
            "department_id": vendas["id"],
            "note": "Quer 3 pizzas, já tem cadastro",
            "message": "Vou te transferir para Vendas",
        },
    )
    assert status == 200, moved
    assert (moved["status"], moved["department_id"], moved["assignee_id"]) == (
        "queued",
        vendas["id"],
        None,
    )
    # The customer is told, through the durable send path.
    async with desk.app[keys.SESSIONS]() as db:
        [said] = await db.scalars(select(Message).where(Message.author_user_id == ana.id))
        assert (said.body, said.status.value) == ("Vou te transferir para Vendas", "pending")
        assert await db.scalar(select(Job).where(Job.kind == "send", Job.key == str(said.id)))
    # Bruno sees it now, with the note on the transfer line; Ana no longer does.
    status, events = await call(desk, bruno, "GET", f"/conversations/{conversation_id}/events")
    assert status == 200
    # (After it, the line that records her message as the answer the customer waited for.)
    assert [e["kind"] for e in events["items"][-2:]] == ["transferred", "responded"]
    last = events["items"][-2]
    assert (last["kind"], last["actor_user_id"], last["note"]) == (
        "transferred",
        ana.id,
        "Quer 3 pizzas, já tem cadastro",
    )
    assert (last["from_department_id"], last["to_department_id"]) == (1, vendas["id"])
    assert (last["from_assignee_id"], last["to_assignee_id"]) == (ana.id, None)
    assert (await call(desk, ana, "GET", f"/conversations/{conversation_id}"))[0] == 404
    status, people = await call(desk, bruno, "GET", "/people")
    assert {p["id"]: p["name"] for p in people["items"]}[ana.id] == "Attendant"  # who did it
    status, queues = await call(desk, bruno, "GET", "/queues")
    assert [(q["name"], q["queued"]) for q in queues["items"]] == [("Vendas", 1)]

    # A transfer straight to a person opens it for them.
    status, given = await call(
        desk, bruno, "POST", f"/conversations/{conversation_id}/transfer", {"user_id": bruno.id}
    )
    assert (status, given["status"], given["assignee_id"]) == (200, "open", bruno.id)
    status, body = await call(desk, bruno, "POST", f"/conversations/{conversation_id}/transfer", {})
    assert (status, body["error"]["code"]) == (422, "validation_error")


async def test_the_inbox_of_whoever_saw_a_conversation_hears_it_leave(desk: Desk) -> None:
    admin = await desk.user("admin")
    _, financeiro = await call(desk, admin, "POST", "/departments", {"name": "Financeiro"})
    ana = await desk.user("attendant", departments=[1])
    [conversation_id] = await customers_write(desk, 1)
    ws = await open_ws(desk, ana)
    await subscribe(ws, "inbox")
    _, before = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    status, moved = await call(
        desk,
        admin,
        "POST",
        f"/conversations/{conversation_id}/transfer",
        {"department_id": financeiro["id"]},
    )
    assert status == 200
    while (got := await frame(ws))["type"] != "conversation.updated":
        pass
    assert (got["topic"], got["data"]["id"], got["data"]["department_id"]) == (
        "inbox",
        conversation_id,
        financeiro["id"],
    )
    # The answer and the notice say when it changed: a browser keeps the latest view by it.
    assert got["data"]["updated_at"] == moved["updated_at"] > before["updated_at"]
    _, after = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    assert after["updated_at"] == moved["updated_at"]
    await ws.close()


# Auto-assignment.


async def online(desk: Desk, *users: Any) -> list[Any]:
    """A websocket open for each (their tab), and presence says so."""
    sockets = [await open_ws(desk, user) for user in users]
    for ws in sockets:
        await subscribe(ws, "me")

    async def all_online() -> bool:
        statuses = await desk.app[PRESENCE_KEEPER].store.statuses([u.id for u in users])
        return all(s.value == "online" for s in statuses.values())

    await until(all_online)
    return sockets


async def test_round_robin_fills_online_attendants_up_to_capacity_and_the_rest_waits_in_order(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    team = await asyncio.gather(*(desk.user("attendant", departments=[1]) for _ in range(4)))
    *present, absent = team
    sockets = await online(desk, *present)
    status, _ = await call(
        desk,
        admin,
        "PATCH",
        "/departments/1",
        {"assignment": "round_robin", "capacity": 2, "member_ids": [u.id for u in team]},
    )
    assert status == 200
    ids = await customers_write(desk, *range(10))
    await settled(desk)

    rows = await conversations(desk)
    held = Counter(c.assignee_id for c in rows if c.status is ConversationStatus.OPEN)
    assert held == {u.id: 2 for u in present}
    assert absent.id not in held
    waiting = [c.id for c in rows if c.status is ConversationStatus.QUEUED]
    assert waiting == ids[6:]  # the first six written went out; the rest wait in order
    for c in rows:
        if c.assignee_id is not None:
            [given] = [e for e in await audit(desk, c.id) if e.kind is EventKind.ASSIGNED]
            assert (given.actor_type, given.reason) == (
                ActorType.SYSTEM,
                "auto-assigned (round_robin)",
            )

    # Freeing capacity hands that attendant the longest-waiting conversation.
    first = present[0]
    mine = next(c.id for c in rows if c.assignee_id == first.id)
    assert (await call(desk, first, "POST", f"/conversations/{mine}/resolve"))[0] == 200

    async def handed_over() -> bool:
        rows = {c.id: c for c in await conversations(desk)}
        return rows[ids[6]].assignee_id == first.id

    took = await until(handed_over)
    print(f"freed capacity refilled in {took * 1000:.0f} ms")
    assert [c.id for c in await conversations(desk) if c.status is ConversationStatus.QUEUED] == (
        ids[7:]
    )
    for ws in sockets:
        await ws.close()


async def test_balanced_gives_the_next_to_the_least_loaded_and_away_gets_nothing(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    busy, idle, resting = await asyncio.gather(
        *(desk.user("attendant", departments=[1]) for _ in range(3))
    )
    sockets = await online(desk, busy, idle, resting)
    first, second = await customers_write(desk, 1, 2)
    await call(desk, busy, "POST", f"/conversations/{first}/claim")
    await call(desk, busy, "POST", f"/conversations/{second}/claim")
    status, _ = await call(desk, resting, "PUT", "/presence", {"status": "away"})
    assert status == 200
    status, _ = await call(
        desk, admin, "PATCH", "/departments/1", {"assignment": "balanced", "capacity": 5}
    )
    assert status == 200
    *_, third, fourth = await customers_write(desk, 3, 4)
    await settled(desk)
    rows = {c.id: c for c in await conversations(desk)}
    # Idle has none and busy two: idle gets both (1 < 2, then 2 = 2 ties go to the lower id).
    assert rows[third].assignee_id == idle.id
    assert rows[fourth].assignee_id in {idle.id, busy.id}
    assert all(c.assignee_id != resting.id for c in rows.values())
    status, team = await call(desk, admin, "GET", "/team")
    shown = {m["id"]: (m["status"], m["open"]) for m in team["items"]}
    assert shown[resting.id] == ("away", 0)
    assert shown[busy.id][0] == "online"
    for ws in sockets:
        await ws.close()


async def test_with_assignment_off_nothing_is_given_and_a_reopened_one_waits_for_its_person(
    desk: Desk,
) -> None:
    ana = await desk.user("attendant", departments=[1])
    sockets = await online(desk, ana)
    [conversation_id] = await customers_write(desk, 1)
    await settled(desk)
    assert (await conversations(desk))[0].status is ConversationStatus.QUEUED
    await call(desk, ana, "POST", f"/conversations/{conversation_id}/claim")
    await call(desk, ana, "POST", f"/conversations/{conversation_id}/resolve")
    jid = customer(1)
    later = T0 + timedelta(minutes=5)
    await post(desk, received("WA-again", "Oi de novo", peer=maria(jid, pn=jid), at=later))
    await settled(desk)
    [reopened] = await conversations(desk)
    # Back to Ana, online with room, even with auto-assignment off.
    assert (reopened.status, reopened.assignee_id) == (ConversationStatus.OPEN, ana.id)
    for ws in sockets:
        await ws.close()


# Departments.


async def test_departments_are_managed_by_admins_with_clear_errors(desk: Desk) -> None:
    admin = await desk.user("admin")
    status, listed = await call(desk, admin, "GET", "/departments")
    assert [(d["name"], d["is_default"]) for d in listed["items"]] == [("Atendimento", True)]
    assert admin.id in listed["items"][0]["member_ids"]

    status, made = await call(
        desk,
        admin,
        "POST",
        "/departments",
        {
            "name": "Financeiro",
            "hours": {"mon": [["08:00", "12:00"], ["13:00", "18:00"]]},
            "holidays": ["2026-12-25"],
            "out_of_hours_message": "Voltamos na segunda às 8h.",
        },
    )
    assert status == 201, made
    assert (made["timezone"], made["assignment"], made["capacity"]) == (
        "America/Sao_Paulo",
        "off",
        10,
    )
    bad = [
        ({"name": "financeiro"}, 409, "conflict"),
        ({"name": "Þórr"}, 201, None),  # made once...
        ({"name": "Þórr"}, 409, "conflict"),  # ...then taken (SQLite's lower() is ASCII only)
        ({"name": "X", "timezone": "Mars/Olympus"}, 422, "validation_error"),
        ({"name": "X", "hours": {"mon": [["18:00", "08:00"]]}}, 422, "validation_error"),
        ({"name": "X", "hours": {"funday": [["08:00", "18:00"]]}}, 422, "validation_error"),
        ({"name": "X", "capacity": 0}, 422, "validation_error"),
        ({"name": "X", "member_ids": [999999]}, 422, "validation_error"),
    ]
    for body, expected, code in bad:
        status, answer = await call(desk, admin, "POST", "/departments", body)
        assert (status, code and answer["error"]["code"]) == (expected, code), body

    status, answer = await call(desk, admin, "DELETE", "/departments/1")
    assert (status, answer["error"]["details"]["reason"]) == (409, "default_department")
    await customers_write(desk, 1)
    status, made_default = await call(
        desk, admin, "PATCH", f"/departments/{made['id']}", {"is_default": True}
    )
    assert made_default["is_default"] is True
    status, answer = await call(desk, admin, "DELETE", "/departments/1")
    assert (status, answer["error"]["details"]["reason"]) == (409, "department_in_use")
    status, listed = await call(desk, admin, "GET", "/departments")
    assert [(d["name"], d["is_default"]) for d in listed["items"]] == [
        ("Atendimento", False),
        ("Financeiro", True),
        ("Þórr", False),
    ]


def test_business_hours_follow_the_departments_timezone_and_holidays() -> None:
    department = Department(
        name="Financeiro",
        timezone="America/Sao_Paulo",
        hours={"mon": [["08:00", "12:00"], ["13:00", "18:00"]], "sat": [["09:00", "24:00"]]},
        holidays=["2026-12-28"],
    )
    monday_9h_local = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo (UTC-3)
    assert is_open(department, monday_9h_local)
    assert not is_open(department, monday_9h_local + timedelta(hours=3, minutes=30))  # lunch
    assert not is_open(department, monday_9h_local + timedelta(hours=9))  # 18:00: closed
    assert not is_open(department, monday_9h_local + timedelta(days=6))  # Sunday
    assert is_open(department, datetime(2026, 12, 13, 2, 30, tzinfo=UTC))  # Sat 23:30 local
    assert not is_open(department, monday_9h_local + timedelta(days=21))  # the holiday
    department.hours = None
    assert is_open(department, monday_9h_local + timedelta(days=6))


# Rights follow the person onto their open sockets.


async def test_removed_from_a_department_an_open_socket_stops_hearing_it(desk: Desk) -> None:
    admin = await desk.user("admin")
    ana = await desk.user("attendant", departments=[1])
    ws = await open_ws(desk, ana)
    await subscribe(ws, "inbox", "me")
    await customers_write(desk, 1)
    while (await frame(ws))["type"] != "conversation.created":
        pass

    status, _ = await call(desk, admin, "PATCH", "/departments/1", {"member_ids": [admin.id]})
    assert status == 200
    hub = desk.app[keys.HUB]

    async def reloaded() -> bool:
        return all(1 not in c.viewer.department_ids for c in hub.open if c.viewer.user_id == ana.id)

    took = await until(reloaded)
    print(f"rights reloaded on the open socket in {took * 1000:.0f} ms")
    await customers_write(desk, 2)  # a new conversation in Atendimento: not for her any more
    status, _ = await call(desk, admin, "PATCH", f"/users/{ana.id}", {"is_active": False})
    assert status == 200
    # Deactivated: the socket is closed; nothing of conversation 2 reached it before.
    seen = []
    while (message := await ws.receive(timeout=10)).type is WSMsgType.TEXT:
        seen.append(message.json()["type"])
    assert "conversation.created" not in seen
    assert "user.updated" in seen  # her own tabs were told what she now is
    assert (message.type, message.data) == (WSMsgType.CLOSE, 1008)


async def test_a_demoted_admin_stops_seeing_other_departments_at_once(desk: Desk) -> None:
    admin = await desk.user("admin")
    chief = await desk.user("admin")
    await desk.department(5)
    ws = await open_ws(desk, chief)
    await subscribe(ws, "inbox", "me")
    status, _ = await call(
        desk, admin, "PATCH", f"/users/{chief.id}", {"role": "supervisor", "department_ids": [5]}
    )
    assert status == 200
    hub = desk.app[keys.HUB]

    async def demoted() -> bool:
        mine = [c for c in hub.open if c.viewer.user_id == chief.id]
        return all(c.viewer.role.value == "supervisor" for c in mine)

    await until(demoted)
    await desk.app[keys.BUS].publish(
        [
            Notice("inbox", "conversation.updated", {"n": "other"}, Audience(department_id=1)),
            Notice("inbox", "conversation.updated", {"n": "theirs"}, Audience(department_id=5)),
            Notice("me", "notification.created", {"n": "end"}, Audience(user_id=chief.id)),
        ]
    )
    seen = []
    while (got := await frame(ws))["data"].get("n") != "end":
        seen.append(got["data"].get("n"))
    assert "other" not in seen
    assert "theirs" in seen
    await ws.close()


# Jobs.


@pytest.mark.parametrize("asked_again_while_running", [False, True])
async def test_a_job_asked_for_twice_runs_once_unless_asked_again_while_it_runs(
    desk: Desk, asked_again_while_running: bool
) -> None:
    runs: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(job: Any) -> None:
        runs.append(job.key)
        started.set()
        await release.wait()

    runner = desk.app[JOBS]
    runner.handle("test.echo", handler)

    later = datetime.now(UTC) + timedelta(hours=1)

    async def ask(db: Any, changes: Any, at: datetime | None = None) -> None:
        changes.enqueue("test.echo", "k", run_at=at)

    # Asked twice while it waits (due in an hour, so nothing can run it in between).
    await desk.app[DESK].run(lambda db, changes: ask(db, changes, later))
    await desk.app[DESK].run(lambda db, changes: ask(db, changes, later))
    async with desk.app[keys.SESSIONS].begin() as db:
        [job] = await db.scalars(select(Job).where(Job.kind == "test.echo"))
        await db.execute(update(Job).where(Job.id == job.id).values(run_at=datetime.now(UTC)))
    runner.wake()
    await started.wait()
    if asked_again_while_running:
        await desk.app[DESK].run(ask)
    release.set()

    async def done() -> bool:
        async with desk.app[keys.SESSIONS]() as db:
            return await db.scalar(select(Job.id).where(Job.kind == "test.echo")) is None

    await until(done)
    assert runs == (["k", "k"] if asked_again_while_running else ["k"])
