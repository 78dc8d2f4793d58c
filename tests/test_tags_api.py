"""Tags and the contact panel's data, through the real API and websocket, on SQLite and
PostgreSQL: admins name and colour tags; whoever may see a conversation tags it, and everyone
watching sees the new tags live; the inbox filters by tag; a contact renamed reaches open
screens; a contact's conversations are listed as far as the viewer may see them."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientWebSocketResponse

from core.storage.models import ConversationStatus
from tests.conftest import Desk
from tests.test_conversations_api import T0, Seed, get_json
from tests.test_desk import call
from tests.test_ingest import maria, post, received
from tests.test_realtime import frame, open_ws, subscribe


async def updated(ws: ClientWebSocketResponse, conversation_id: int) -> dict[str, Any]:
    """The next ``conversation.updated`` notice about this conversation."""
    while True:
        got = await frame(ws)
        if got["type"] == "conversation.updated" and got["data"]["id"] == conversation_id:
            return got["data"]


async def make_tag(desk: Desk, admin: Any, name: str, color: str = "#0f7b6c") -> int:
    status, tag = await call(desk, admin, "POST", "/tags", {"name": name, "color": color})
    assert status == 201, tag
    return int(tag["id"])


async def test_admins_name_and_colour_tags_and_everyone_reads_them(desk: Desk) -> None:
    admin = await desk.user("admin")
    attendant = await desk.user("attendant")

    status, vip = await call(desk, admin, "POST", "/tags", {"name": " VIP ", "color": "#AA00FF"})
    assert (status, vip["name"], vip["color"], vip["conversations"]) == (201, "VIP", "#aa00ff", 0)
    await make_tag(desk, admin, "Reclamação", "#b42318")

    # One name per tag, whatever the case (accents too); bad names and colours name the field.
    for body in ({"name": "vip", "color": "#000000"}, {"name": "RECLAMAÇÃO", "color": "#000000"}):
        status, refused = await call(desk, admin, "POST", "/tags", body)
        assert (status, refused["error"]["code"]) == (409, "tag_name_taken"), body
    for body, field in (
        ({"name": "   ", "color": "#000000"}, "name"),
        ({"name": "x" * 49, "color": "#000000"}, "name"),
        ({"name": "Novo", "color": "red"}, "color"),
        ({"name": "Novo", "color": "#12345"}, "color"),
        ({"name": "Novo"}, "color"),
    ):
        status, refused = await call(desk, admin, "POST", "/tags", body)
        assert (status, refused["error"]["code"]) == (422, "validation_error"), body
        assert refused["error"]["details"]["errors"][0]["field"] == field

    # Attendants read them (names and colours, not how many carry each) and change nothing.
    status, listed = await call(desk, attendant, "GET", "/tags")
    assert [(t["name"], t["conversations"]) for t in listed["items"]] == [
        ("Reclamação", None),
        ("VIP", None),
    ]
    body = {"name": "X", "color": "#000000"}
    status, refused = await call(desk, attendant, "POST", "/tags", body)
    assert (status, refused["error"]["code"]) == (403, "permission_denied")

    # Renamed (its own name in another case is fine), recoloured; another's name is not.
    status, renamed = await call(desk, admin, "PATCH", f"/tags/{vip['id']}", {"name": "vip"})
    assert (status, renamed["name"], renamed["color"]) == (200, "vip", "#aa00ff")
    status, renamed = await call(
        desk, admin, "PATCH", f"/tags/{vip['id']}", {"name": "Cliente VIP", "color": "#0B5CAD"}
    )
    assert (status, renamed["name"], renamed["color"]) == (200, "Cliente VIP", "#0b5cad")
    status, refused = await call(desk, admin, "PATCH", f"/tags/{vip['id']}", {"name": "reclamação"})
    assert (status, refused["error"]["code"]) == (409, "tag_name_taken")

    assert (await call(desk, admin, "DELETE", f"/tags/{vip['id']}"))[0] == 204
    status, refused = await call(desk, admin, "DELETE", f"/tags/{vip['id']}")
    assert (status, refused["error"]["code"]) == (404, "not_found")
    status, listed = await call(desk, admin, "GET", "/tags")
    assert [t["name"] for t in listed["items"]] == ["Reclamação"]


async def test_tagging_a_conversation_is_announced_and_filters_the_inbox(desk: Desk) -> None:
    seed = Seed(desk)
    admin = await desk.user("admin")
    attendant = await desk.user("attendant", departments=[1])
    vip = await make_tag(desk, admin, "VIP")
    urgent = await make_tag(desk, admin, "Urgente", "#b42318")
    channel = await seed.channel()
    ana = await seed.contact("Ana", "5511988880001")
    bruno = await seed.contact("Bruno", "5511988880002")
    ours = await seed.conversation(channel, ana, department_id=1)
    other = await seed.conversation(channel, bruno, department_id=1)
    theirs = await seed.conversation(channel, bruno, department_id=2)
    ws = await open_ws(desk, admin)
    await subscribe(ws, "inbox")

    status, before = await call(desk, attendant, "GET", f"/conversations/{ours}")
    assert before["tag_ids"] == []
    status, tagged = await call(
        desk, attendant, "PUT", f"/conversations/{ours}/tags", {"tag_ids": [urgent, vip, vip]}
    )
    assert (status, tagged["tag_ids"]) == (200, sorted([vip, urgent]))
    notice = await updated(ws, ours)
    assert notice["tag_ids"] == sorted([vip, urgent])
    assert notice["updated_at"] == tagged["updated_at"] > before["updated_at"]
    assert notice["contact"]["display_name"] == "Ana"
    status, again = await call(desk, attendant, "GET", f"/conversations/{ours}")
    assert (again["tag_ids"], again["updated_at"]) == (tagged["tag_ids"], tagged["updated_at"])

    # The inbox by tag: only what carries it, as far as the viewer may see.
    await call(desk, admin, "PUT", f"/conversations/{theirs}/tags", {"tag_ids": [vip]})
    page = await get_json(desk, attendant, "/api/v1/conversations", tag_id=vip)
    assert [(c["id"], c["tag_ids"]) for c in page["items"]] == [(ours, sorted([vip, urgent]))]
    page = await get_json(desk, admin, "/api/v1/conversations", tag_id=vip)
    assert {c["id"] for c in page["items"]} == {ours, theirs}
    page = await get_json(desk, admin, "/api/v1/conversations", tag_id=urgent, status="open")
    assert [c["id"] for c in page["items"]] == [ours]
    page = await get_json(desk, admin, "/api/v1/conversations")
    assert {c["id"]: c["tag_ids"] for c in page["items"]}[other] == []

    # Taking one off is announced too; setting what is already there announces nothing.
    status, untagged = await call(
        desk, attendant, "PUT", f"/conversations/{ours}/tags", {"tag_ids": [urgent]}
    )
    assert (status, untagged["tag_ids"]) == (200, [urgent])
    assert (await updated(ws, ours))["tag_ids"] == [urgent]
    status, same = await call(
        desk, attendant, "PUT", f"/conversations/{ours}/tags", {"tag_ids": [urgent]}
    )
    assert same["updated_at"] == untagged["updated_at"]

    # Unknown tags are named; a conversation the attendant may not see is not found.
    status, refused = await call(
        desk, attendant, "PUT", f"/conversations/{ours}/tags", {"tag_ids": [vip, 999999]}
    )
    assert (status, refused["error"]["code"]) == (422, "unknown_tag")
    assert refused["error"]["details"]["tag_ids"] == [999999]
    status, refused = await call(
        desk, attendant, "PUT", f"/conversations/{theirs}/tags", {"tag_ids": []}
    )
    assert (status, refused["error"]["code"]) == (404, "not_found")
    status, refused = await call(desk, attendant, "PUT", f"/conversations/{ours}/tags", {})
    assert (status, refused["error"]["code"]) == (422, "validation_error")

    # Admins see how many carry each; a deleted tag leaves its conversations.
    status, listed = await call(desk, admin, "GET", "/tags")
    assert {t["name"]: t["conversations"] for t in listed["items"]} == {"Urgente": 1, "VIP": 1}
    await call(desk, admin, "DELETE", f"/tags/{urgent}")
    assert (await call(desk, admin, "GET", f"/conversations/{ours}"))[1]["tag_ids"] == []
    await ws.close()


async def test_a_new_message_keeps_the_conversations_tags_in_its_notice(desk: Desk) -> None:
    admin = await desk.user("admin")
    vip = await make_tag(desk, admin, "VIP")
    await post(desk, received("WA1", "Oi", peer=maria(), at=T0))
    _, page = await call(desk, admin, "GET", "/conversations")
    [conversation] = page["items"]
    await call(desk, admin, "PUT", f"/conversations/{conversation['id']}/tags", {"tag_ids": [vip]})
    ws = await open_ws(desk, admin)
    await subscribe(ws, "inbox")
    await post(desk, received("WA2", "Alguém aí?", peer=maria(), at=T0))
    notice = await updated(ws, conversation["id"])
    assert (notice["last_message_preview"], notice["tag_ids"]) == ("Alguém aí?", [vip])
    await ws.close()


async def test_a_renamed_contact_reaches_open_screens(desk: Desk) -> None:
    seed = Seed(desk)
    attendant = await desk.user("attendant", departments=[1])
    supervisor = await desk.user("supervisor", departments=[2])
    channel = await seed.channel()
    ana = await seed.contact(None, "5511988880001", push_name="ana zap")
    await seed.conversation(channel, ana, department_id=1)
    elsewhere = await seed.conversation(channel, ana, department_id=2, at=T0.replace(hour=9))
    lonely = await seed.contact("Sem Conversa Visível", "5511988880002")
    await seed.conversation(channel, lonely, department_id=2)
    ws = await open_ws(desk, supervisor)
    await subscribe(ws, "inbox")

    body = {"name": " Ana Souza "}
    status, edited = await call(desk, attendant, "PATCH", f"/contacts/{ana}", body)
    assert (status, edited["display_name"]) == (200, "Ana Souza")
    # The supervisor sees the conversation of their department (not the attendant's) renamed.
    notice = await updated(ws, elsewhere)
    assert notice["contact"]["display_name"] == "Ana Souza"
    status, page = await call(desk, supervisor, "GET", "/conversations")
    assert {c["id"]: c["contact"]["name"] for c in page["items"]}[elsewhere] == "Ana Souza"

    # Only someone who sees one of the contact's conversations renames it.
    status, refused = await call(desk, attendant, "PATCH", f"/contacts/{lonely}", {"name": "Outro"})
    assert (status, refused["error"]["code"]) == (404, "not_found")
    status, refused = await call(desk, attendant, "PATCH", f"/contacts/{ana}", {"name": " "})
    assert (status, refused["error"]["code"]) == (422, "validation_error")
    await ws.close()


async def test_a_contacts_conversations_as_far_as_the_viewer_may_see(desk: Desk) -> None:
    seed = Seed(desk)
    admin = await desk.user("admin")
    attendant = await desk.user("attendant", departments=[1])
    channel = await seed.channel()
    ana = await seed.contact("Ana", "5511988880001")
    bruno = await seed.contact("Bruno", "5511988880002")
    first = await seed.conversation(
        channel, ana, department_id=1, status=ConversationStatus.RESOLVED, at=T0.replace(hour=8)
    )
    hidden = await seed.conversation(channel, ana, department_id=2, at=T0.replace(hour=9))
    latest = await seed.conversation(channel, ana, department_id=1, at=T0.replace(hour=10))
    await seed.conversation(channel, bruno, department_id=1)

    page = await get_json(desk, attendant, "/api/v1/conversations", contact_id=ana)
    assert [(c["id"], c["status"]) for c in page["items"]] == [
        (latest, "open"),
        (first, "resolved"),
    ]
    page = await get_json(desk, admin, "/api/v1/conversations", contact_id=ana)
    assert [c["id"] for c in page["items"]] == [latest, hidden, first]
    page = await get_json(desk, attendant, "/api/v1/conversations", contact_id=999999)
    assert page["items"] == []
