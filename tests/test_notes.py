"""Private notes and the bell, through the real API on SQLite and PostgreSQL: a note is a line
of the conversation's history for the team, never a message (no row in messages, no send job,
nothing the copilot reads); mentioning a colleague, being given or transferred a conversation
reaches that person's bell, as they want it; one's notifications and preferences are one's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from core import keys
from core.realtime.topics import CONVERSATION_EVENT, ME, NOTIFICATION_CREATED
from core.storage.models import Conversation, Job, Message, Notification, User
from scripts.fake_openai import FakeOpenAI
from tests.conftest import Desk
from tests.copilot_kit import conversation_with, notices, regenerate, settled
from tests.test_conversations_api import Seed
from tests.test_copilot_openai import fake, openai_desk
from tests.test_desk import call, customers_write

__all__ = ["fake"]  # fixtures


async def person(desk: Desk, role: str, name: str, departments: list[int] | None = None) -> Any:
    user = await desk.user(role, departments=departments)
    async with desk.app[keys.SESSIONS].begin() as db:
        await db.execute(update(User).where(User.id == user.id).values(name=name))
    return user


async def counts(desk: Desk) -> tuple[int, int]:
    """How many messages and send jobs are stored (a send job, run or not, has its message)."""
    async with desk.app[keys.SESSIONS]() as db:
        messages = await db.scalar(select(func.count(Message.id)))
        sends = await db.scalar(select(func.count(Job.id)).where(Job.kind == "send"))
    return messages or 0, sends or 0


async def bell(desk: Desk, user: Any) -> list[tuple[str, int | None, int | None]]:
    """A person's stored notifications: (kind, conversation, actor), oldest first."""
    async with desk.app[keys.SESSIONS]() as db:
        rows = await db.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
        return [(n.kind, n.conversation_id, n.actor_user_id) for n in rows]


async def note(desk: Desk, user: Any, conversation_id: int, **body: Any) -> tuple[int, Any]:
    return await call(desk, user, "POST", f"/conversations/{conversation_id}/notes", body)


async def test_a_note_is_a_line_for_the_team_and_never_a_message(desk: Desk) -> None:
    [conversation_id] = await customers_write(desk, 1)
    ana = await person(desk, "attendant", "Ana Lima", [1])
    assert (await call(desk, ana, "POST", f"/conversations/{conversation_id}/claim"))[0] == 200
    async with desk.app[keys.SESSIONS]() as db:
        before = await db.get(Conversation, conversation_id)
        assert before is not None
        was = (before.status, before.assignee_id, before.unread_count, before.updated_at)
    stored = await counts(desk)
    said = await notices(desk, "message.created")

    status, line = await note(desk, ana, conversation_id, text="  Cliente VIP, não cobrar frete  ")

    assert status == 201, line
    assert (line["kind"], line["actor_user_id"], line["note"]) == (
        "note",
        ana.id,
        "Cliente VIP, não cobrar frete",
    )
    # Nothing to send: no message, no send job (so nothing can reach WhatsApp).
    assert await counts(desk) == stored
    assert await notices(desk, "message.created") == said
    # The conversation stays as it was: status, attendant, unread, even when it last changed.
    async with desk.app[keys.SESSIONS]() as db:
        after = await db.get(Conversation, conversation_id)
        assert after is not None
        assert (after.status, after.assignee_id, after.unread_count, after.updated_at) == was
    # In the timeline, and announced live on the conversation's topic.
    status, events = await call(desk, ana, "GET", f"/conversations/{conversation_id}/events")
    assert events["items"][-1] == line
    [announced] = [n for n in await notices(desk, CONVERSATION_EVENT) if n.data["kind"] == "note"]
    assert announced.topic == f"conversation:{conversation_id}"
    assert announced.data == line
    # Someone who may not see the conversation may not write in it either.
    outsider = await desk.user("attendant", departments=[9])
    status, body = await note(desk, outsider, conversation_id, text="oi")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_a_mention_reaches_exactly_the_colleague_mentioned(desk: Desk) -> None:
    [conversation_id] = await customers_write(desk, 1)
    ana = await person(desk, "attendant", "Ana Lima", [1])
    bia = await person(desk, "attendant", "Bia Souza", [1])
    bia_short = await person(desk, "attendant", "Bia", [1])
    caio = await person(desk, "attendant", "Caio Reis", [9])  # may not see it
    supervisor = await person(desk, "supervisor", "Sueli", [1])

    status, line = await note(
        desk,
        ana,
        conversation_id,
        text="@bia souza, veja o pedido; @Caio Reis também; ana@empresa.com.br; @Ana Lima",
        mentions=[supervisor.id],
    )

    assert status == 201, line
    # By id first, then as the text names them; Caio may not see it, the e-mail is no one.
    assert line["data"] == {"mentions": [supervisor.id, bia.id, ana.id]}
    assert await bell(desk, bia) == [("mentioned", conversation_id, ana.id)]
    assert await bell(desk, supervisor) == [("mentioned", conversation_id, ana.id)]
    assert await bell(desk, ana) == []  # never told of one's own doing
    assert await bell(desk, bia_short) == []
    assert await bell(desk, caio) == []
    [told] = [n for n in await notices(desk, NOTIFICATION_CREATED) if n.audience.user_id == bia.id]
    assert told.topic == ME
    assert told.data["data"]["excerpt"].startswith("@bia souza, veja o pedido")
    assert told.data["data"]["contact_name"] == "Maria"

    # Who may be mentioned: whoever may see the conversation, by name.
    status, people = await call(desk, ana, "GET", f"/conversations/{conversation_id}/mentionable")
    names = [p["name"] for p in people["items"]]
    assert "Caio Reis" not in names
    assert {"Ana Lima", "Bia", "Bia Souza", "Sueli"} <= set(names)

    # A long note's excerpt is cut.
    status, _ = await note(desk, ana, conversation_id, text="@Bia " + "x" * 300)
    assert status == 201
    async with desk.app[keys.SESSIONS]() as db:
        excerpt = await db.scalar(
            select(Notification.data).where(Notification.user_id == bia_short.id)
        )
    assert excerpt is not None
    assert len(excerpt["excerpt"]) == 140


async def test_mentions_that_cannot_be_made_are_refused_with_clear_codes(desk: Desk) -> None:
    [conversation_id] = await customers_write(desk, 1)
    ana = await person(desk, "attendant", "Ana Lima", [1])
    caio = await person(desk, "attendant", "Caio Reis", [9])
    gone = await person(desk, "attendant", "Gil", [1])
    async with desk.app[keys.SESSIONS].begin() as db:
        await db.execute(update(User).where(User.id == gone.id).values(is_active=False))
    cases = [
        ({"text": "   "}, "validation_error"),
        ({"text": "x" * 4001}, "validation_error"),
        ({"text": "oi", "mentions": [999_999]}, "unknown_mention"),
        ({"text": "oi", "mentions": [gone.id]}, "unknown_mention"),
        ({"text": "oi", "mentions": [caio.id]}, "mention_without_access"),
        ({"text": "oi", "mentions": ["ana"]}, "validation_error"),
        ({"text": "oi", "to": "cliente"}, "validation_error"),
    ]
    for body, code in cases:
        status, answer = await note(desk, ana, conversation_id, **body)
        assert (status, answer["error"]["code"]) == (422, code), body
    stored = await counts(desk)
    status, line = await note(desk, ana, conversation_id, text="x" * 4000)
    assert (status, len(line["note"])) == (201, 4000)
    assert await counts(desk) == stored


# Given, transferred: the person who gets it hears of it, unless they took it themselves.


async def test_who_is_given_or_transferred_a_conversation_hears_of_it(desk: Desk) -> None:
    first, second = await customers_write(desk, 1, 2)
    ana = await person(desk, "attendant", "Ana Lima", [1])
    bia = await person(desk, "attendant", "Bia Souza", [1])
    supervisor = await person(desk, "supervisor", "Sueli", [1])

    assert (await call(desk, ana, "POST", f"/conversations/{first}/claim"))[0] == 200
    assert await bell(desk, ana) == []  # took it herself
    status, _ = await call(
        desk, supervisor, "POST", f"/conversations/{second}/assign", {"user_id": ana.id}
    )
    assert status == 200
    assert await bell(desk, ana) == [("assigned", second, supervisor.id)]
    status, _ = await call(
        desk, ana, "POST", f"/conversations/{first}/transfer", {"user_id": bia.id}
    )
    assert status == 200
    assert await bell(desk, bia) == [("transferred", first, ana.id)]
    [told] = [n for n in await notices(desk, NOTIFICATION_CREATED) if n.audience.user_id == bia.id]
    assert told.data["kind"] == "transferred"
    assert told.data["data"] == {"contact_name": "Maria"}
    # Transferred to a department's queue: nobody in particular gets it.
    status, _ = await call(
        desk, bia, "POST", f"/conversations/{first}/transfer", {"department_id": 1, "user_id": None}
    )
    assert await bell(desk, supervisor) == []


# One's own bell and preferences.


async def test_preferences_are_ones_own_and_a_kind_turned_off_is_not_heard(desk: Desk) -> None:
    [conversation_id] = await customers_write(desk, 1)
    ana = await person(desk, "attendant", "Ana Lima", [1])
    supervisor = await person(desk, "supervisor", "Sueli", [1])
    status, defaults = await call(desk, ana, "GET", "/me/preferences")
    assert (status, defaults) == (
        200,
        {
            "queued": True,
            "assigned": True,
            "transferred": True,
            "mentioned": True,
            "sla": True,
            "desktop": True,
            "sound": True,
            "dnd": False,
        },
    )
    for wrong in ({"assigned": "no"}, {"assigned": 0}, {"loud": True}, {"dnd": None}):
        status, body = await call(desk, ana, "PUT", "/me/preferences", wrong)
        assert (status, body["error"]["code"]) == (422, "validation_error"), wrong
    status, changed = await call(desk, ana, "PUT", "/me/preferences", {"assigned": False})
    assert status == 200
    assert changed == defaults | {"assigned": False}
    status, changed = await call(desk, ana, "PUT", "/me/preferences", {"dnd": True})
    assert changed == defaults | {"assigned": False, "dnd": True}  # the rest kept
    assert (await call(desk, ana, "GET", "/me/preferences"))[1] == changed
    assert (await call(desk, supervisor, "GET", "/me/preferences"))[1] == defaults

    status, _ = await call(
        desk, supervisor, "POST", f"/conversations/{conversation_id}/assign", {"user_id": ana.id}
    )
    assert status == 200
    assert await bell(desk, ana) == []
    assert [n for n in await notices(desk, NOTIFICATION_CREATED)] == []
    # Mentions are still on: those arrive.
    await note(desk, supervisor, conversation_id, text="@Ana Lima olha isso")
    assert await bell(desk, ana) == [("mentioned", conversation_id, supervisor.id)]


async def test_the_bell_lists_newest_first_and_marks_read_only_ones_own(desk: Desk) -> None:
    [conversation_id] = await customers_write(desk, 1)
    ana = await person(desk, "attendant", "Ana Lima", [1])
    bia = await person(desk, "attendant", "Bia Souza", [1])
    for n in range(5):
        assert (await note(desk, bia, conversation_id, text=f"@Ana Lima nota {n}"))[0] == 201
    await note(desk, ana, conversation_id, text="@Bia Souza de volta")

    status, page = await call(desk, ana, "GET", "/me/notifications?limit=3")
    assert status == 200
    assert [n["data"]["excerpt"] for n in page["items"]] == [
        "@Ana Lima nota 4",
        "@Ana Lima nota 3",
        "@Ana Lima nota 2",
    ]
    assert page["unread"] == 5
    status, rest = await call(desk, ana, "GET", f"/me/notifications?before={page['next_before']}")
    assert [n["data"]["excerpt"] for n in rest["items"]] == ["@Ana Lima nota 1", "@Ana Lima nota 0"]
    assert rest["next_before"] is None
    assert (await call(desk, ana, "GET", "/me/notifications?limit=0"))[0] == 422

    newest = page["items"][0]
    assert (newest["kind"], newest["conversation_id"], newest["actor_user_id"]) == (
        "mentioned",
        conversation_id,
        bia.id,
    )
    status, read = await call(desk, ana, "POST", f"/me/notifications/{newest['id']}/read")
    assert status == 200
    assert read["read_at"] is not None
    assert (await call(desk, ana, "POST", f"/me/notifications/{newest['id']}/read"))[1] == read
    assert (await call(desk, ana, "GET", "/me/notifications"))[1]["unread"] == 4
    # Someone else's is as good as missing.
    status, body = await call(desk, bia, "POST", f"/me/notifications/{newest['id']}/read")
    assert (status, body["error"]["code"]) == (404, "not_found")
    _, theirs = await call(desk, bia, "GET", "/me/notifications")
    assert [n["data"]["excerpt"] for n in theirs["items"]] == ["@Bia Souza de volta"]

    assert await call(desk, ana, "POST", "/me/notifications/read") == (200, {"unread": 0})
    _, after = await call(desk, ana, "GET", "/me/notifications")
    assert after["unread"] == 0
    assert all(n["read_at"] for n in after["items"])
    assert (await call(desk, bia, "GET", "/me/notifications"))[1]["unread"] == 1


# The copilot reads messages only.


async def test_the_copilot_never_reads_a_note(
    aiohttp_client: Any, tmp_path: Path, database_url: str, fake: FakeOpenAI
) -> None:
    desk = await openai_desk(aiohttp_client, tmp_path, database_url, fake)
    admin = await desk.user("admin")
    seed = Seed(desk)
    conversation_id = await conversation_with(
        seed, "Ana Lima", "5511988880001", [(True, "Oi, qual o prazo de entrega?")]
    )
    secret = "Cliente inadimplente, segurar o pedido 4471"
    assert (await note(desk, admin, conversation_id, text=secret))[0] == 201

    await regenerate(desk, admin, conversation_id)
    draft = await settled(desk, admin, conversation_id)
    status, summary = await call(desk, admin, "POST", f"/conversations/{conversation_id}/summary")

    assert len(fake.requests) == 2  # the draft's and the summary's
    sent = " ".join(str(m["content"]) for r in fake.requests for m in r["messages"])
    assert "prazo de entrega" in sent  # the customer's words went
    assert "4471" not in sent
    assert "inadimplente" not in sent
    assert "4471" not in draft["text"]
    assert status == 200
    assert "4471" not in str(summary)
