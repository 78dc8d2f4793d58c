"""The SLA: a department's response targets start a clock when the customer starts waiting; an
attendant's answer stops it; a missed target is recorded once and told to the attendant and the
department's supervisors; business hours stretch the deadline over closed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from core import keys
from core.desk import sla
from core.desk.unit import DESK, load
from core.storage.models import Conversation, Department, EventKind, Job, Notification
from tests.conftest import Desk
from tests.test_desk import audit, call, until
from tests.test_ingest import maria, post, received

SP = "America/Sao_Paulo"
WEEKDAYS = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_business_hours_stretch_a_deadline_over_nights_weekends_and_holidays() -> None:
    always = Department(hours=None, timezone=SP, holidays=[])
    since = at("2026-12-04T17:59:00-03:00")  # a Friday, one minute before closing
    assert sla.due_after(always, since, 120) == since + timedelta(seconds=120)
    office = Department(hours=WEEKDAYS, timezone=SP, holidays=["2026-12-07"])
    # One minute on Friday, the rest on Tuesday morning (Monday is a holiday).
    assert sla.due_after(office, since, 120) == at("2026-12-08T08:01:00-03:00")
    # Sent at night: the clock starts when the department opens.
    assert sla.due_after(office, at("2026-12-08T22:00:00-03:00"), 600) == at(
        "2026-12-09T08:10:00-03:00"
    )
    assert sla.due_after(Department(hours={}, timezone=SP, holidays=[]), since, 60) is None
    # The time between two moments, counted the same way (what the reports' toggle shows).
    tuesday = at("2026-12-08T08:01:00-03:00")
    assert sla.open_seconds(office, since, tuesday) == 120
    assert sla.open_seconds(always, since, tuesday) == 3 * 86_400 + 14 * 3600 + 120
    assert sla.open_seconds(None, tuesday, since) == 0


async def _targets(desk: Desk, admin: Any, first_s: int, next_s: int) -> None:
    body = {"sla_first_s": first_s, "sla_next_s": next_s}
    status, department = await call(desk, admin, "PATCH", "/departments/1", body)
    assert (status, department["sla_first_s"], department["sla_next_s"]) == (200, first_s, next_s)


async def _shown(desk: Desk, user: Any, conversation_id: int) -> dict[str, Any]:
    status, shown = await call(desk, user, "GET", f"/conversations/{conversation_id}")
    assert status == 200, shown
    return shown


async def _customer_writes(desk: Desk, admin: Any, wa_id: str) -> int:
    await post(desk, received(wa_id, "Oi, alguém aí?", peer=maria(), at=datetime.now(UTC)))
    _, page = await call(desk, admin, "GET", "/conversations")
    return int(page["items"][0]["id"])


async def _bells(desk: Desk) -> list[tuple[int, str]]:
    async with desk.app[keys.SESSIONS]() as db:
        found = await db.scalars(select(Notification).order_by(Notification.id))
        return [(n.user_id, n.kind) for n in found]


async def test_the_first_answer_s_clock_runs_from_the_queue_and_stops_at_the_answer(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    await _targets(desk, admin, 60, 0)
    before = datetime.now(UTC)
    conversation_id = await _customer_writes(desk, admin, "S1")
    shown = await _shown(desk, admin, conversation_id)
    clock = (shown["status"], shown["sla_kind"], shown["sla_state"])
    assert clock == ("queued", "first", "running")
    due = datetime.fromisoformat(shown["sla_due_at"])
    assert before + timedelta(seconds=60) <= due <= datetime.now(UTC) + timedelta(seconds=60)

    path = f"/conversations/{conversation_id}/messages"
    status, _ = await call(desk, admin, "POST", path, {"text": "Olá! Sou a Ana."})
    assert status in (200, 201, 202)
    shown = await _shown(desk, admin, conversation_id)
    assert (shown["sla_due_at"], shown["sla_state"], shown["sla_kind"]) == (None, None, "next")
    # No next target: the customer's next message starts no clock, but the answer to it is
    # still recorded (the reports' response times).
    await post(desk, received("S2", "Obrigada", peer=maria(), at=datetime.now(UTC)))
    assert (await _shown(desk, admin, conversation_id))["sla_due_at"] is None
    status, _ = await call(desk, admin, "POST", path, {"text": "Por nada!"})
    assert status in (200, 201, 202)
    answers = await _answers(desk, conversation_id)
    assert [(a.data["kind"], a.data["target_s"], a.data["met"]) for a in answers] == [
        ("first", 60, True),
        ("next", 0, None),
    ]
    assert {a.actor_user_id for a in answers} == {admin.id}
    assert all(0 <= a.data["waited_s"] == a.data["business_s"] < 60 for a in answers)
    # Answering again while nobody waits records nothing more.
    status, _ = await call(desk, admin, "POST", path, {"text": "Até mais!"})
    assert len(await _answers(desk, conversation_id)) == 2


async def test_a_missed_next_answer_is_recorded_and_told_once(desk: Desk) -> None:
    admin = await desk.user("admin")
    ana = await desk.user("attendant", departments=[1])
    bia = await desk.user("supervisor", departments=[1])
    await desk.user("attendant", departments=[1])  # a colleague: not told
    await _targets(desk, admin, 0, 2)
    conversation_id = await _customer_writes(desk, admin, "S1")
    assert (await _shown(desk, admin, conversation_id))["sla_due_at"] is None  # no first target
    status, _ = await call(desk, ana, "POST", f"/conversations/{conversation_id}/claim")
    assert status == 200
    path = f"/conversations/{conversation_id}/messages"
    status, _ = await call(desk, ana, "POST", path, {"text": "Oi Maria, já vejo."})
    assert status in (200, 201, 202)
    await post(desk, received("S2", "E então?", peer=maria(), at=datetime.now(UTC)))
    shown = await _shown(desk, ana, conversation_id)
    assert (shown["sla_kind"], shown["sla_state"]) == ("next", "running")

    async def breached() -> bool:
        return bool((await _shown(desk, ana, conversation_id))["sla_state"] == "breached")

    await until(breached, within_s=30)

    async def checked() -> bool:  # the timer is done with this clock
        async with desk.app[keys.SESSIONS]() as db:
            left = select(func.count()).select_from(Job).where(Job.kind == sla.CHECK)
            return await db.scalar(left) == 0

    await until(checked)
    lines = [e for e in await audit(desk, conversation_id) if e.kind is EventKind.SLA_BREACHED]
    assert [(line.data["kind"], line.data["target_s"]) for line in lines] == [("next", 2)]
    told = await _bells(desk)
    assert told.count((ana.id, "sla_breached")) == 1
    assert told.count((bia.id, "sla_breached")) == 1
    assert {user for user, _ in told} <= {ana.id, bia.id}
    assert told.count((ana.id, "sla_at_risk")) <= 1  # at risk, unless the timer ran late

    # The late answer stops the clock; the breach stays in the history.
    status, _ = await call(desk, ana, "POST", path, {"text": "Desculpe a demora!"})
    assert status in (200, 201, 202)
    shown = await _shown(desk, ana, conversation_id)
    assert (shown["sla_due_at"], shown["sla_state"]) == (None, None)
    answers = await _answers(desk, conversation_id)
    assert [(a.data["kind"], a.data["met"]) for a in answers] == [("first", None), ("next", False)]
    assert answers[-1].data["waited_s"] >= 2


async def test_at_risk_is_told_once_to_whoever_holds_it(desk: Desk) -> None:
    admin = await desk.user("admin")
    ana = await desk.user("attendant", departments=[1])
    await _targets(desk, admin, 0, 40)
    conversation_id = await _customer_writes(desk, admin, "S1")
    status, _ = await call(desk, ana, "POST", f"/conversations/{conversation_id}/claim")
    assert status == 200
    due = datetime.now(UTC) + timedelta(seconds=5)  # within the last quarter of 40 s
    async with desk.app[keys.SESSIONS].begin() as db:
        await db.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(sla_due_at=due, sla_kind="next", sla_state="running")
        )

    async def look() -> None:
        await desk.app[DESK].run(
            lambda db, changes: _check(db, changes, conversation_id)  # type: ignore[arg-type]
        )

    await look()
    await look()  # a job run twice tells nobody twice
    assert await _bells(desk) == [(ana.id, "sla_at_risk")]
    assert (await _shown(desk, ana, conversation_id))["sla_state"] == "at_risk"


async def _answers(desk: Desk, conversation_id: int) -> list[Any]:
    return [e for e in await audit(desk, conversation_id) if e.kind is EventKind.RESPONDED]


async def _check(db: Any, changes: Any, conversation_id: int) -> None:
    await sla.check(db, changes, await load(db, conversation_id))
