"""Auto-close: a conversation whose customer goes silent is resolved with the department's
message once the department's time has passed since their last word (or since someone took
it), exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from core import keys
from core.storage.models import Direction, EventKind, Job, Message
from core.storage.models.department import AUTO_CLOSE_MESSAGE
from tests.conftest import Desk
from tests.test_csat import from_us
from tests.test_desk import audit, call, until
from tests.test_ingest import maria, post, received


async def taken_conversation(desk: Desk, admin: Any, silence_s: int) -> int:
    status, _ = await call(desk, admin, "PATCH", "/departments/1", {"auto_close_s": silence_s})
    assert status == 200
    await post(desk, received("A1", "Oi, preciso de ajuda", peer=maria(), at=datetime.now(UTC)))
    status, page = await call(desk, admin, "GET", "/conversations")
    conversation_id = int(page["items"][0]["id"])
    status, claimed = await call(desk, admin, "POST", f"/conversations/{conversation_id}/claim")
    assert (status, claimed["status"]) == (200, "open"), claimed
    return conversation_id


async def resolved(desk: Desk, admin: Any, conversation_id: int) -> dict[str, Any]:
    async def done() -> bool:
        _, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
        return bool(shown["status"] == "resolved")

    await until(done, within_s=30)
    return (await call(desk, admin, "GET", f"/conversations/{conversation_id}"))[1]


async def test_a_silent_customer_s_conversation_is_resolved_once_with_the_message(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    conversation_id = await taken_conversation(desk, admin, 2)
    shown = await resolved(desk, admin, conversation_id)
    assert shown["assignee_id"] == admin.id
    assert await from_us(desk, conversation_id) == [AUTO_CLOSE_MESSAGE]
    closes = [e for e in await audit(desk, conversation_id) if e.to_status == "resolved"]
    assert [(e.kind, e.actor_type.value, e.reason) for e in closes] == [
        (EventKind.STATUS_CHANGED, "system", "auto-closed after 2 s of silence")
    ]
    async with desk.app[keys.SESSIONS]() as db:
        assert (
            await db.scalar(select(func.count()).select_from(Job).where(Job.kind == "auto.close"))
            == 0
        )


async def test_the_customer_s_word_moves_the_deadline(desk: Desk) -> None:
    admin = await desk.user("admin")
    conversation_id = await taken_conversation(desk, admin, 3)
    await post(desk, received("A2", "Ainda estou aqui", peer=maria(), at=datetime.now(UTC)))
    shown = await resolved(desk, admin, conversation_id)
    async with desk.app[keys.SESSIONS]() as db:
        last_word = await db.scalar(
            select(func.max(Message.created_at)).where(
                Message.conversation_id == conversation_id,
                Message.direction == Direction.INBOUND,
            )
        )
    assert last_word is not None
    resolved_at = datetime.fromisoformat(shown["resolved_at"])
    assert resolved_at - last_word >= timedelta(seconds=3)


async def test_off_by_default_and_a_conversation_back_in_the_queue_is_left_alone(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    conversation_id = await taken_conversation(desk, admin, 0)

    async def timers() -> int:
        async with desk.app[keys.SESSIONS]() as db:
            left = select(func.count()).select_from(Job).where(Job.kind == "auto.close")
            return int(await db.scalar(left) or 0)

    async def timer_gone() -> bool:
        return await timers() == 0

    await until(timer_gone)  # it looked: off
    status, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    assert shown["status"] == "open"
    status, back = await call(desk, admin, "POST", f"/conversations/{conversation_id}/unassign")
    assert (status, back["status"]) == (200, "queued")
    status, _ = await call(desk, admin, "PATCH", "/departments/1", {"auto_close_s": 1})
    assert status == 200
    assert await timers() == 0  # only conversations someone holds are timed
    assert await from_us(desk, conversation_id) == []


async def test_a_snoozed_conversation_comes_back_to_its_attendant_once_its_time_comes(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    conversation_id = await taken_conversation(desk, admin, 0)
    path = f"/conversations/{conversation_id}/snooze"
    status, refused = await call(desk, admin, "POST", path, {"until": "2020-01-01T00:00:00Z"})
    assert (status, refused["error"]["code"]) == (422, "validation_error")
    wake_at = datetime.now(UTC) + timedelta(seconds=4)  # room for a slow request
    status, snoozed = await call(desk, admin, "POST", path, {"until": wake_at.isoformat()})
    assert status == 200, snoozed
    assert (snoozed["status"], datetime.fromisoformat(snoozed["snoozed_until"])) == (
        "pending",
        wake_at,
    )

    async def open_again() -> bool:
        _, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
        return bool(shown["status"] == "open")

    await until(open_again)
    _, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    assert (shown["assignee_id"], shown["snoozed_until"]) == (admin.id, None)
    assert datetime.now(UTC) >= wake_at
    reasons = [e.reason for e in await audit(desk, conversation_id)]
    assert reasons[-2:] == [f"snoozed until {wake_at.isoformat()}", "snooze ended"]


async def test_the_customer_s_answer_ends_a_snooze_early(desk: Desk) -> None:
    admin = await desk.user("admin")
    conversation_id = await taken_conversation(desk, admin, 0)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    path = f"/conversations/{conversation_id}/snooze"
    assert (await call(desk, admin, "POST", path, {"until": later}))[0] == 200
    await post(desk, received("A9", "Voltei", peer=maria(), at=datetime.now(UTC)))
    _, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    assert (shown["status"], shown["assignee_id"], shown["snoozed_until"]) == (
        "open",
        admin.id,
        None,
    )
