"""Resolving: the closing message, the satisfaction survey over WhatsApp, and how its answers
are taken (a rating, a comment, or an ordinary message that ends it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import keys
from core.desk.csat import rating_of
from core.storage.models import Direction, EventKind, Message
from tests.conftest import Desk
from tests.test_desk import audit, call, settled
from tests.test_ingest import maria, post, received

QUESTION = "Como você avalia o nosso atendimento? Responda de 1 a 5."
THANKS = "Obrigado pela avaliação! Se quiser, conte numa mensagem o que achou."
CLOSING = "Obrigado pelo contato! Até a próxima."


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("5", 5),
        (" 4 ", 4),
        ("5!", 5),
        ("nota 3", 3),
        ("5 estrelas", 5),
        ("1 estrela", 1),
        ("cinco", 5),
        ("Quatro", 4),
        ("três", 3),
        ("uma estrela", 1),
        ("5\ufe0f\u20e3", 5),
        ("2\u20e3", 2),
        ("⭐⭐⭐⭐⭐", 5),
        ("⭐ ⭐ ⭐", 3),
        ("5/5", 5),
        ("4 de 5", 4),
        ("obrigado", None),
        ("10", None),
        ("0", None),
        ("⭐⭐⭐⭐⭐⭐", None),
        ("5 dias e nada", None),
        ("qual é o prazo?", None),
        ("", None),
    ],
)
def test_the_ways_people_rate(text: str, rating: int | None) -> None:
    assert rating_of(text) == rating


async def from_us(desk: Desk, conversation_id: int) -> list[str]:
    async with desk.app[keys.SESSIONS]() as db:
        found = await db.scalars(
            select(Message.body)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == Direction.OUTBOUND,
            )
            .order_by(Message.id)
        )
        return list(found)


async def resolved_conversation(desk: Desk, admin: Any, wa: str, now: datetime) -> int:
    await post(desk, received(wa, "Oi, preciso de ajuda", peer=maria(), at=now))
    status, page = await call(desk, admin, "GET", "/conversations")
    conversation_id = int(page["items"][0]["id"])
    status, resolved = await call(desk, admin, "POST", f"/conversations/{conversation_id}/resolve")
    assert status == 200, resolved
    assert (resolved["status"], resolved["csat_status"]) == ("resolved", "asked")
    return conversation_id


async def test_a_rating_and_a_comment_stay_in_the_resolved_conversation(desk: Desk) -> None:
    admin = await desk.user("admin")
    status, _ = await call(desk, admin, "PATCH", "/departments/1", {"closing_message": CLOSING})
    assert status == 200
    now = datetime.now(UTC)
    conversation_id = await resolved_conversation(desk, admin, "A1", now)
    assert await from_us(desk, conversation_id) == [CLOSING, QUESTION]

    await post(desk, received("A2", "5", peer=maria(), at=now + timedelta(seconds=5)))
    await post(desk, received("A3", "Muito bom!", peer=maria(), at=now + timedelta(seconds=20)))
    await settled(desk)
    status, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    assert (shown["status"], shown["csat_rating"], shown["csat_comment"]) == (
        "resolved",
        5,
        "Muito bom!",
    )
    assert shown["csat_status"] == "done"
    assert await from_us(desk, conversation_id) == [CLOSING, QUESTION, THANKS]
    rated = [e for e in await audit(desk, conversation_id) if e.kind is EventKind.RATED]
    assert [(e.reason, e.data["rating"]) for e in rated] == [("rated", 5), ("commented", 5)]

    # After that, a message is an ordinary one again: it reopens the conversation.
    await post(desk, received("A4", "Outra dúvida", peer=maria(), at=now + timedelta(seconds=40)))
    status, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    assert shown["status"] == "queued"
    assert (shown["csat_rating"], shown["csat_comment"]) == (5, "Muito bom!")


async def test_an_answer_that_is_not_a_rating_ends_the_survey_and_it_is_never_asked_again(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    now = datetime.now(UTC)
    conversation_id = await resolved_conversation(desk, admin, "B1", now)
    await post(desk, received("B2", "obrigado", peer=maria(), at=now + timedelta(seconds=5)))
    status, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    # The reopen rule decides: within the window, back to the queue.
    assert (shown["status"], shown["csat_status"], shown["csat_rating"]) == (
        "queued",
        "declined",
        None,
    )
    status, again = await call(desk, admin, "POST", f"/conversations/{conversation_id}/resolve")
    assert status == 200, again
    await post(desk, received("B3", "5", peer=maria(), at=now + timedelta(seconds=10)))
    assert await from_us(desk, conversation_id) == [QUESTION]  # asked once
    status, shown = await call(desk, admin, "GET", f"/conversations/{conversation_id}")
    assert (shown["status"], shown["csat_rating"]) == ("queued", None)


async def test_a_department_may_switch_the_survey_off(desk: Desk) -> None:
    admin = await desk.user("admin")
    status, department = await call(desk, admin, "PATCH", "/departments/1", {"csat_enabled": False})
    assert (status, department["csat_enabled"]) == (200, False)
    await post(desk, received("C1", "Oi", peer=maria(), at=datetime.now(UTC)))
    status, page = await call(desk, admin, "GET", "/conversations")
    conversation_id = page["items"][0]["id"]
    status, resolved = await call(desk, admin, "POST", f"/conversations/{conversation_id}/resolve")
    assert (status, resolved["csat_status"]) == (200, None)
    assert await from_us(desk, conversation_id) == []
