"""The conversations API as an attendant's screen uses it: the inbox list (pages, filters, who
sees what), a conversation, its messages, and marking it read (with the customer's receipt)."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select

from core import keys
from core.app import create_app
from core.storage.models import (
    ActorType,
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Department,
    Direction,
    IdentityKind,
    Message,
    MessageStatus,
)
from tests.conftest import Desk, make_settings
from zapdesk.settings import ServiceSettings

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GATEWAY_TOKEN = "test-gateway-token"


class Seed:
    """Rows written straight through the models, as ingest would have left them."""

    def __init__(self, desk: Desk) -> None:
        self.sessions = desk.app[keys.SESSIONS]

    async def department(self, department_id: int) -> int:
        async with self.sessions.begin() as db:
            if await db.get(Department, department_id) is None:
                db.add(Department(id=department_id, name=f"Dep {department_id}"))
        return department_id

    async def channel(self, department_id: int | None = None) -> int:
        async with self.sessions.begin() as db:
            channel = Channel(session_id=f"sess-{uuid.uuid4().hex[:8]}", name="Vendas")
            channel.department_id = department_id
            db.add(channel)
            await db.flush()
            return channel.id

    async def contact(
        self,
        name: str | None = None,
        phone: str | None = None,
        *,
        email: str | None = None,
        push_name: str | None = None,
        lid: str | None = None,
        at: datetime = T0,
    ) -> int:
        async with self.sessions.begin() as db:
            contact = Contact(
                name=name, phone=phone, email=email, push_name=push_name, created_at=at
            )
            if phone:
                contact.identities.append(
                    ContactIdentity(jid=f"{phone}@s.whatsapp.net", kind=IdentityKind.PHONE)
                )
            if lid:
                contact.identities.append(ContactIdentity(jid=lid, kind=IdentityKind.LID))
            db.add(contact)
            await db.flush()
            return contact.id

    async def conversation(
        self,
        channel_id: int,
        contact_id: int,
        *,
        status: ConversationStatus = ConversationStatus.OPEN,
        department_id: int | None = None,
        assignee_id: int | None = None,
        unread: int = 0,
        at: datetime = T0,
    ) -> int:
        if department_id is not None:
            await self.department(department_id)
        async with self.sessions.begin() as db:
            conversation = Conversation(
                channel_id=channel_id,
                contact_id=contact_id,
                status=status,
                department_id=department_id,
                assignee_id=assignee_id,
                unread_count=unread,
                last_message_at=at,
                created_at=at,
            )
            db.add(conversation)
            await db.flush()
            return conversation.id

    async def message(
        self,
        conversation_id: int,
        body: str,
        *,
        at: datetime = T0,
        direction: Direction = Direction.INBOUND,
        status: MessageStatus = MessageStatus.RECEIVED,
        wa_id: str | None = None,
    ) -> int:
        async with self.sessions.begin() as db:
            conversation = await db.get(Conversation, conversation_id)
            assert conversation is not None
            message = Message(
                conversation_id=conversation_id,
                channel_id=conversation.channel_id,
                wa_message_id=wa_id or f"WA{uuid.uuid4().hex[:12].upper()}",
                direction=direction,
                author_type=ActorType.CONTACT if direction is Direction.INBOUND else ActorType.USER,
                body=body,
                status=status,
                created_at=at,
            )
            db.add(message)
            await db.flush()
            return message.id


async def get_json(desk: Desk, user: Any, path: str, expect: int = 200, **params: Any) -> Any:
    response = await desk.client.get(path, params=params, headers=desk.auth(user))
    body = await response.json()
    assert response.status == expect, body
    return body


async def walk(
    desk: Desk, user: Any, path: str, cursor: str | None = None, **params: Any
) -> list[int]:
    """Every id of a paginated list, page after page, as a client would follow next_cursor."""
    ids: list[int] = []
    while True:
        page = await get_json(desk, user, path, **params, **({"cursor": cursor} if cursor else {}))
        ids.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
        assert len(page["items"]) == params["limit"]


async def ids_of(desk: Desk, user: Any, **params: Any) -> set[int]:
    page = await get_json(desk, user, "/api/v1/conversations", **params)
    return {item["id"] for item in page["items"]}


# The list.


async def test_pages_walk_every_conversation_once_newest_first(desk: Desk) -> None:
    seed = Seed(desk)
    admin = await desk.user("admin")
    channel = await seed.channel()
    contact = await seed.contact("Ana", "5511988880001")
    # Three share one instant: the id breaks the tie, so no page boundary loses one.
    times = [T0, T0 + timedelta(minutes=5), T0, T0 + timedelta(hours=1), T0, T0 - timedelta(1)]
    made = [await seed.conversation(channel, contact, at=at) for at in times]
    expected = [i for _, i in sorted(zip(times, made, strict=True), reverse=True)]

    assert await walk(desk, admin, "/api/v1/conversations", limit=2) == expected
    assert await walk(desk, admin, "/api/v1/conversations", limit=4) == expected

    # A customer writes while the attendant scrolls: the new conversation tops the list, and
    # the pages being read neither repeat nor skip a row.
    first = await get_json(desk, admin, "/api/v1/conversations", limit=2)
    await seed.conversation(channel, contact, at=T0 + timedelta(days=1))
    rest = await walk(desk, admin, "/api/v1/conversations", limit=2, cursor=first["next_cursor"])
    assert [item["id"] for item in first["items"]] + rest == expected


async def test_list_items_carry_the_contact(desk: Desk) -> None:
    seed = Seed(desk)
    admin = await desk.user("admin")
    contact = await seed.contact("Ana Souza", "5511988880001", lid="9988@lid")
    conversation = await seed.conversation(await seed.channel(), contact, unread=2)

    page = await get_json(desk, admin, "/api/v1/conversations")
    [item] = page["items"]
    assert item["id"] == conversation
    assert item["unread_count"] == 2
    assert item["contact"]["display_name"] == "Ana Souza"
    assert {i["jid"] for i in item["contact"]["identities"]} == {
        "5511988880001@s.whatsapp.net",
        "9988@lid",
    }
    assert page["next_cursor"] is None


async def test_filters_narrow_the_list(desk: Desk) -> None:
    seed = Seed(desk)
    supervisor = await desk.user("supervisor", departments=[1, 2])
    attendant = await desk.user("attendant", departments=[1])
    other = await desk.user("attendant", departments=[1])
    vendas, suporte = await seed.channel(), await seed.channel()
    contact = await seed.contact("Ana", "5511988880001")
    mine = await seed.conversation(vendas, contact, department_id=1, assignee_id=attendant.id)
    theirs = await seed.conversation(
        vendas, contact, department_id=1, assignee_id=other.id, unread=3
    )
    queued = await seed.conversation(
        suporte, contact, status=ConversationStatus.QUEUED, department_id=2, unread=1
    )
    pending = await seed.conversation(
        suporte, contact, status=ConversationStatus.PENDING, assignee_id=attendant.id
    )
    bot = await seed.conversation(vendas, contact, status=ConversationStatus.BOT)

    assert await ids_of(desk, supervisor) == {mine, theirs, queued, pending, bot}
    assert await ids_of(desk, supervisor, status="queued") == {queued}
    assert await ids_of(desk, supervisor, status="queued,pending") == {queued, pending}
    repeated = await desk.client.get(
        "/api/v1/conversations?status=queued&status=bot", headers=desk.auth(supervisor)
    )
    assert {item["id"] for item in (await repeated.json())["items"]} == {queued, bot}
    assert await ids_of(desk, supervisor, department_id=1) == {mine, theirs}
    assert await ids_of(desk, supervisor, channel_id=suporte) == {queued, pending}
    assert await ids_of(desk, supervisor, assignee_id=other.id) == {theirs}
    assert await ids_of(desk, supervisor, assignee="none") == {queued, bot}
    assert await ids_of(desk, supervisor, unread="true") == {theirs, queued}
    assert await ids_of(desk, supervisor, unread="false") == {mine, pending, bot}
    assert await ids_of(desk, supervisor, status="open", unread="true") == {theirs}
    assert await ids_of(desk, attendant, assignee="me") == {mine, pending}
    assert await ids_of(desk, attendant, assignee="me", status="pending") == {pending}


BAD_LIST_PARAMETERS: list[tuple[dict[str, str], str]] = [
    ({"limit": "101"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"status": "open,sleeping"}, "status.1"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "WyJ5ZXN0ZXJkYXkiLDFd"}, "cursor"),  # ["yesterday",1]
    ({"assignee": "someone"}, "assignee"),
    ({"assignee": "me", "assignee_id": "3"}, ""),
    ({"unread": "maybe"}, "unread"),
    ({"stauts": "open"}, "stauts"),
    ({"q": "x" * 201}, "q"),
]


async def test_bad_list_parameters_are_a_422_naming_the_field(desk: Desk) -> None:
    admin = await desk.user("admin")
    for params, field_name in BAD_LIST_PARAMETERS:
        body = await get_json(desk, admin, "/api/v1/conversations", expect=422, **params)
        assert body["error"]["code"] == "validation_error"
        fields = {error["field"] for error in body["error"]["details"]["errors"]}
        assert field_name in fields, (params, body)


async def test_signing_in_is_required(desk: Desk) -> None:
    for path in ("/api/v1/conversations", "/api/v1/conversations/1"):
        response = await desk.client.get(path)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"


# Who sees what.


async def test_an_attendant_never_sees_another_departments_conversation(desk: Desk) -> None:
    seed = Seed(desk)
    attendant = await desk.user("attendant", departments=[1])
    supervisor = await desk.user("supervisor", departments=[2])
    lead = await desk.user("supervisor", departments=[1])
    channel = await seed.channel()
    contact = await seed.contact("Bruno", "5511988880002")
    own_department = await seed.conversation(channel, contact, department_id=1)
    no_department = await seed.conversation(channel, contact)
    assigned_elsewhere = await seed.conversation(
        channel, contact, department_id=2, assignee_id=attendant.id
    )
    hidden = await seed.conversation(channel, contact, department_id=2)
    await seed.message(hidden, "Segredo do financeiro: o reembolso")

    visible = {own_department, no_department, assigned_elsewhere}
    assert await ids_of(desk, attendant) == visible
    assert await ids_of(desk, attendant, department_id=2) == {assigned_elsewhere}
    assert await ids_of(desk, attendant, q="reembolso") == set()
    assert await ids_of(desk, supervisor, q="reembolso") == {hidden}
    # A supervisor sees their departments, not the others'.
    assert await ids_of(desk, lead, q="reembolso") == set()
    assert await walk(desk, attendant, "/api/v1/conversations", limit=1) != []

    # Hidden and missing look the same: its existence does not leak.
    for path in (f"/api/v1/conversations/{hidden}", f"/api/v1/conversations/{hidden}/messages"):
        body = await get_json(desk, attendant, path, expect=404)
        assert body["error"]["code"] == "not_found"
    missing = await get_json(desk, attendant, "/api/v1/conversations/999999", expect=404)
    hidden_body = await get_json(desk, attendant, f"/api/v1/conversations/{hidden}", expect=404)
    assert missing["error"]["message"].replace("999999", "N") == hidden_body["error"][
        "message"
    ].replace(str(hidden), "N")
    read = await desk.client.post(
        f"/api/v1/conversations/{hidden}/read", headers=desk.auth(attendant)
    )
    assert read.status == 404

    detail = await get_json(desk, attendant, f"/api/v1/conversations/{assigned_elsewhere}")
    assert detail["contact"]["name"] == "Bruno"
    assert (await get_json(desk, supervisor, f"/api/v1/conversations/{hidden}"))["id"] == hidden


# Messages.


async def test_messages_come_newest_first_in_pages(desk: Desk) -> None:
    seed = Seed(desk)
    admin = await desk.user("admin")
    channel = await seed.channel()
    contact = await seed.contact("Carla", "5511988880003")
    conversation = await seed.conversation(channel, contact)
    other = await seed.conversation(channel, contact)
    times = [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]
    made = [await seed.message(conversation, f"m{n}", at=at) for n, at in enumerate(times)]
    await seed.message(other, "elsewhere", at=T0 + timedelta(hours=1))
    expected = [i for _, i in sorted(zip(times, made, strict=True), reverse=True)]

    path = f"/api/v1/conversations/{conversation}/messages"
    assert await walk(desk, admin, path, limit=3) == expected
    assert await walk(desk, admin, path, limit=1) == expected
    page = await get_json(desk, admin, path)
    assert page["items"][0]["body"] == "m3"
    assert page["items"][0]["direction"] == "inbound"
    await get_json(desk, admin, "/api/v1/conversations/abc/messages", expect=404)
    await get_json(desk, admin, path, expect=422, limit=500)


# Marking read.


@dataclass
class FakeGateway:
    """Stands in for the gateway's API: records each read command and the token it came with."""

    url: str = ""
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    status: int = 204


@pytest.fixture
async def gateway(aiohttp_server: Any) -> FakeGateway:
    fake = FakeGateway()

    async def read(request: web.Request) -> web.Response:
        body = await request.json()
        fake.calls.append((request.match_info["session"], request.headers["Authorization"], body))
        return web.Response(status=fake.status)

    app = web.Application()
    app.router.add_post("/sessions/{session}/read", read)
    server = await aiohttp_server(app)
    fake.url = str(server.make_url(""))
    return fake


async def desk_with_gateway(
    aiohttp_client: Any, tmp_path: Path, database_url: str, gateway_url: str
) -> Desk:
    services = ServiceSettings(
        webhook_secret=SecretStr("test-webhook-secret"),
        gateway_token=SecretStr(GATEWAY_TOKEN),
        gateway_url=gateway_url,
    )
    settings = make_settings(tmp_path, database_url, services=services)
    return Desk(await aiohttp_client(create_app(settings)))


async def unread_conversation(desk: Desk) -> tuple[int, Any, str]:
    seed = Seed(desk)
    attendant = await desk.user("attendant", departments=[1])
    channel = await seed.channel()
    async with desk.app[keys.SESSIONS]() as db:
        session_id = await db.scalar(select(Channel.session_id).where(Channel.id == channel))
    assert session_id is not None
    contact = await seed.contact("Dora", "5511988880004", lid="4455@lid")
    conversation = await seed.conversation(channel, contact, department_id=1, unread=2)
    await seed.message(conversation, "já li", at=T0, status=MessageStatus.READ, wa_id="OLD")
    await seed.message(conversation, "oi", at=T0 + timedelta(seconds=1), wa_id="A1")
    await seed.message(
        conversation, "resposta", at=T0 + timedelta(seconds=2), direction=Direction.OUTBOUND
    )
    await seed.message(conversation, "tudo bem?", at=T0 + timedelta(seconds=3), wa_id="A2")
    return conversation, attendant, session_id


async def test_reading_zeroes_unread_and_sends_the_receipt_once(
    aiohttp_client: Any, tmp_path: Path, database_url: str, gateway: FakeGateway
) -> None:
    desk = await desk_with_gateway(aiohttp_client, tmp_path, database_url, gateway.url)
    conversation, attendant, session_id = await unread_conversation(desk)

    response = await desk.client.post(
        f"/api/v1/conversations/{conversation}/read", headers=desk.auth(attendant)
    )
    assert response.status == 200
    assert (await response.json())["unread_count"] == 0
    detail = await get_json(desk, attendant, f"/api/v1/conversations/{conversation}")
    assert detail["unread_count"] == 0
    assert gateway.calls == [
        (
            session_id,
            f"Bearer {GATEWAY_TOKEN}",
            {
                "type": "read",
                "chat": "5511988880004@s.whatsapp.net",
                "wa_ids": ["A2", "A1"],
                "sender": None,
            },
        )
    ]
    envelopes = await desk.app[keys.BUS].since(0)
    assert envelopes is not None
    [notice] = [e.notice for e in envelopes]
    assert (notice.topic, notice.type) == ("inbox", "conversation.updated")
    assert notice.data["id"] == conversation
    assert notice.data["unread_count"] == 0
    assert notice.audience.department_id == 1

    # Read again: nothing new to tell the customer or the other screens.
    again = await desk.client.post(
        f"/api/v1/conversations/{conversation}/read", headers=desk.auth(attendant)
    )
    assert again.status == 200
    assert len(gateway.calls) == 1
    assert len(await desk.app[keys.BUS].since(0) or []) == 1


async def test_reading_succeeds_when_the_gateway_is_down_or_refuses(
    aiohttp_client: Any, tmp_path: Path, database_url: str, gateway: FakeGateway
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    desk = await desk_with_gateway(
        aiohttp_client, tmp_path, database_url, f"http://127.0.0.1:{closed_port}"
    )
    conversation, attendant, _ = await unread_conversation(desk)
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation}/read", headers=desk.auth(attendant)
    )
    assert response.status == 200
    assert (await response.json())["unread_count"] == 0

    gateway.status = 503
    refused = await desk_with_gateway(
        aiohttp_client, tmp_path / "second", database_url, gateway.url
    )
    await Seed(refused).message(conversation, "ainda aí?", wa_id="A3")
    async with refused.app[keys.SESSIONS].begin() as db:
        row = await db.get(Conversation, conversation)
        assert row is not None
        row.unread_count = 1
    user = await refused.user("admin")
    response = await refused.client.post(
        f"/api/v1/conversations/{conversation}/read", headers=refused.auth(user)
    )
    assert response.status == 200
    assert (await response.json())["unread_count"] == 0
    assert [body["wa_ids"] for _, _, body in gateway.calls] == [["A3"]]


# The document.


async def test_the_operations_are_in_the_openapi_document(desk: Desk) -> None:
    doc = await (await desk.client.get("/api/v1/openapi.json")).json()
    listing = doc["paths"]["/api/v1/conversations"]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}
    assert {"status", "assignee", "assignee_id", "unread", "q", "cursor", "limit"} <= names
    assert "ConversationPage" in doc["components"]["schemas"]
    assert "get" in doc["paths"]["/api/v1/conversations/{id}/messages"]
    assert "post" in doc["paths"]["/api/v1/conversations/{id}/read"]
