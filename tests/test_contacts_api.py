"""The contacts API: finding a customer, seeing who they are, correcting their details, with
attendants limited to the customers of conversations they may see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import Desk
from tests.test_conversations_api import T0, Seed, get_json, walk


async def patch(desk: Desk, user: Any, contact_id: int | str, body: Any, expect: int = 200) -> Any:
    response = await desk.client.patch(
        f"/api/v1/contacts/{contact_id}", json=body, headers=desk.auth(user)
    )
    answer = await response.json()
    assert response.status == expect, answer
    return answer


async def found(desk: Desk, user: Any, q: str) -> set[int]:
    page = await get_json(desk, user, "/api/v1/contacts", q=q)
    return {item["id"] for item in page["items"]}


async def test_contacts_are_found_by_name_phone_and_email(desk: Desk) -> None:
    seed = Seed(desk)
    supervisor = await desk.user("supervisor")
    ana = await seed.contact("Ana Souza", "5511988880001", email="ana@loja.com.br")
    bruno = await seed.contact(None, "5521977770002", push_name="Bruninho")
    carla = await seed.contact("Carla", None, at=T0 + timedelta(hours=1))

    assert await found(desk, supervisor, "souza") == {ana}
    assert await found(desk, supervisor, "LOJA.COM") == {ana}
    assert await found(desk, supervisor, "bruninho") == {bruno}
    assert await found(desk, supervisor, "+55 21 97777") == {bruno}
    assert await found(desk, supervisor, "5511") == {ana}
    assert await found(desk, supervisor, "") == {ana, bruno, carla}
    assert await found(desk, supervisor, "%") == set()

    # Newest first (Carla came last), ties broken by id; every contact exactly once.
    assert await walk(desk, supervisor, "/api/v1/contacts", limit=1) == [carla, bruno, ana]
    first = await get_json(desk, supervisor, "/api/v1/contacts")
    assert [item["display_name"] for item in first["items"]] == ["Carla", "Bruninho", "Ana Souza"]
    assert first["next_cursor"] is None


async def test_a_contact_shows_its_identities_and_latest_conversations(desk: Desk) -> None:
    seed = Seed(desk)
    admin = await desk.user("admin")
    channel = await seed.channel()
    ana = await seed.contact("Ana", "5511988880001", lid="12345@lid", email="ana@loja.com.br")
    older = await seed.conversation(channel, ana, at=T0)
    newer = await seed.conversation(channel, ana, at=T0 + timedelta(days=2))

    contact = await get_json(desk, admin, f"/api/v1/contacts/{ana}")
    assert contact["name"] == "Ana"
    assert contact["email"] == "ana@loja.com.br"
    assert {(i["jid"], i["kind"]) for i in contact["identities"]} == {
        ("5511988880001@s.whatsapp.net", "pn"),
        ("12345@lid", "lid"),
    }
    assert contact["conversation_ids"] == [newer, older]

    for missing in ("999999", "abc"):
        body = await get_json(desk, admin, f"/api/v1/contacts/{missing}", expect=404)
        assert body["error"]["code"] == "not_found"


async def test_an_attendant_sees_only_the_contacts_of_conversations_they_may_see(
    desk: Desk,
) -> None:
    seed = Seed(desk)
    attendant = await desk.user("attendant", departments=[1])
    channel = await seed.channel()
    ours = await seed.contact("Cliente Nosso", "5511900000001")
    theirs = await seed.contact("Cliente Deles", "5511900000002")
    both = await seed.contact("Cliente Dos Dois", "5511900000003")
    await seed.contact("Cliente Sem Conversa", "5511900000004")
    await seed.conversation(channel, ours, department_id=1)
    await seed.conversation(channel, theirs, department_id=2)
    hidden = await seed.conversation(channel, both, department_id=2)
    shown = await seed.conversation(channel, both, assignee_id=attendant.id, department_id=2)

    assert await found(desk, attendant, "cliente") == {ours, both}
    assert (await get_json(desk, attendant, f"/api/v1/contacts/{both}"))["conversation_ids"] == [
        shown
    ]
    assert hidden != shown
    await get_json(desk, attendant, f"/api/v1/contacts/{theirs}", expect=404)
    await patch(desk, attendant, theirs, {"name": "Outro"}, expect=404)


async def test_editing_a_contact(desk: Desk) -> None:
    seed = Seed(desk)
    attendant = await desk.user("attendant", departments=[1])
    supervisor = await desk.user("supervisor")
    channel = await seed.channel()
    ana = await seed.contact(None, "5511988880001", push_name="ana zap", email="velho@x.com")
    await seed.conversation(channel, ana, department_id=1)
    lonely = await seed.contact("Sem Conversa", "5511988880009")

    edited = await patch(
        desk,
        attendant,
        ana,
        {
            "name": "  Ana Souza ",
            "email": "Ana@Loja.com.BR",
            "attributes": {"cpf": "123.456.789-00", "vip": True, "pedidos": 3, "nota": None},
        },
    )
    assert edited["name"] == "Ana Souza"
    assert edited["display_name"] == "Ana Souza"
    assert edited["email"] == "ana@loja.com.br"
    again = await get_json(desk, attendant, f"/api/v1/contacts/{ana}")
    assert again["attributes"] == {"cpf": "123.456.789-00", "vip": True, "pedidos": 3, "nota": None}
    assert again["phone"] == "5511988880001"

    # Only what is given changes; null clears.
    cleared = await patch(desk, attendant, ana, {"email": None})
    assert (cleared["email"], cleared["name"]) == (None, "Ana Souza")
    cleared = await patch(desk, attendant, ana, {"name": None, "attributes": None})
    assert (cleared["name"], cleared["display_name"], cleared["attributes"]) == (
        None,
        "ana zap",
        {},
    )

    # An attendant cannot reach a contact with no conversation; a supervisor edits anyone.
    await patch(desk, attendant, lonely, {"name": "Tentativa"}, expect=404)
    assert (await patch(desk, supervisor, lonely, {"name": "Nome Novo"}))["name"] == "Nome Novo"


BAD_EDITS: list[tuple[dict[str, Any], str]] = [
    ({"email": "não é email"}, "email"),
    ({"email": "a@b"}, "email"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"phone": "5511999999999"}, "phone"),
    ({"attributes": {"endereço": {"rua": "A"}}}, "attributes.endereço"),
    ({"attributes": {f"k{n}": n for n in range(51)}}, "attributes"),
    ({"attributes": {"": "vazio"}}, "attributes"),
    ({"attributes": {"nota": "x" * 1001}}, "attributes"),
    ({"attributes": ["não", "é", "objeto"]}, "attributes"),
]


async def test_bad_edits_are_a_422_naming_the_field(desk: Desk) -> None:
    seed = Seed(desk)
    admin = await desk.user("admin")
    contact = await seed.contact("Ana", "5511988880001")
    for body, field in BAD_EDITS:
        answer = await patch(desk, admin, contact, body, expect=422)
        assert answer["error"]["code"] == "validation_error"
        fields = {error["field"] for error in answer["error"]["details"]["errors"]}
        assert any(name.startswith(field) for name in fields), (body, fields)
    assert (await get_json(desk, admin, f"/api/v1/contacts/{contact}"))["name"] == "Ana"


async def test_malformed_requests_get_stable_codes(desk: Desk) -> None:
    admin = await desk.user("admin")
    contact = await Seed(desk).contact("Ana", "5511988880001")
    response = await desk.client.patch(
        f"/api/v1/contacts/{contact}", data=b"{not json", headers=desk.auth(admin)
    )
    assert (response.status, (await response.json())["error"]["code"]) == (400, "bad_request")
    unsigned = await desk.client.get("/api/v1/contacts")
    assert (unsigned.status, (await unsigned.json())["error"]["code"]) == (401, "unauthorized")
    body = await get_json(desk, admin, "/api/v1/contacts", expect=422, limit=1000)
    assert body["error"]["code"] == "validation_error"
    body = await get_json(desk, admin, "/api/v1/contacts", expect=422, cursor="!!")
    assert body["error"]["details"]["errors"][0]["field"] == "cursor"
