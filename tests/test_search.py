"""Searching the inbox (`q`): words in the messages, the contact's name or phone; accents and case
ignored on SQLite, Portuguese stemming on PostgreSQL; never a syntax error, never a leak."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from core import keys
from core.inbox.queries import body_matches
from core.storage.models import ConversationStatus, Message
from tests.conftest import Desk
from tests.test_conversations_api import Seed, get_json

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])
POSTGRES_ONLY = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)]
)


async def found(desk: Desk, user: Any, q: str, **params: Any) -> set[int]:
    page = await get_json(desk, user, "/api/v1/conversations", q=q, **params)
    return {item["id"] for item in page["items"]}


async def one_conversation_per_body(desk: Desk, *bodies: str) -> list[int]:
    seed = Seed(desk)
    channel = await seed.channel()
    made = []
    for body in bodies:
        contact = await seed.contact("Cliente", f"5511{uuid.uuid4().int % 10**9:09d}")
        conversation = await seed.conversation(channel, contact)
        await seed.message(conversation, body)
        made.append(conversation)
    return made


async def test_words_in_messages_are_found_whatever_their_case(desk: Desk) -> None:
    admin = await desk.user("admin")
    delivery, greeting, cancelled = await one_conversation_per_body(
        desk, "A Entrega chegou ontem à tarde", "Bom dia, tudo bem?", "Pedido cancelado"
    )
    assert await found(desk, admin, "entrega") == {delivery}
    assert await found(desk, admin, "ENTREGA chegou") == {delivery}
    assert await found(desk, admin, "  Entrega  ") == {delivery}
    assert await found(desk, admin, "entrega cancelado") == set()  # every word must be there
    assert await found(desk, admin, "pedido") == {cancelled}
    assert await found(desk, admin, "pedido", status="open,pending") == {cancelled}
    assert await found(desk, admin, "pedido", status="queued") == set()
    assert await found(desk, admin, "bom dia") == {greeting}


async def test_contacts_are_found_by_name_and_phone(desk: Desk) -> None:
    seed = Seed(desk)
    admin = await desk.user("admin")
    channel = await seed.channel()
    maria = await seed.conversation(
        channel, await seed.contact("Maria José da Silva", "5511988887777")
    )
    joao = await seed.conversation(
        channel, await seed.contact(None, "5521977776666", push_name="João WhatsApp")
    )
    await seed.message(maria, "Olá")

    assert await found(desk, admin, "maria") == {maria}
    assert await found(desk, admin, "SILVA") == {maria}
    assert await found(desk, admin, "whatsapp") == {joao}
    assert await found(desk, admin, "+55 (11) 98888-7777") == {maria}
    assert await found(desk, admin, "98888") == {maria}
    assert await found(desk, admin, "5521") == {joao}
    # LIKE's wildcards are plain characters here, not "anything".
    assert await found(desk, admin, "%") == set()
    assert await found(desk, admin, "_") == set()


async def test_search_text_is_never_a_syntax_error(desk: Desk) -> None:
    admin = await desk.user("admin")
    [delivery] = await one_conversation_per_body(desk, "entrega marcada")
    for q in ['"', "'", "(", "NEAR(a b)", "a AND OR", "*", "-", "^", "entrega:", "body:x"]:
        await found(desk, admin, q)
    assert await found(desk, admin, 'entrega"') == {delivery}
    assert await found(desk, admin, "(entrega)") == {delivery}


async def test_search_never_shows_an_attendant_another_departments_conversation(
    desk: Desk,
) -> None:
    seed = Seed(desk)
    attendant = await desk.user("attendant", departments=[1])
    channel = await seed.channel()
    ours = await seed.conversation(
        channel, await seed.contact("Paula Lima", "5511911110000"), department_id=1
    )
    theirs = await seed.conversation(
        channel, await seed.contact("Paula Costa", "5511922220000"), department_id=2
    )
    await seed.message(ours, "segunda via do boleto")
    await seed.message(theirs, "segunda via do boleto")

    assert await found(desk, attendant, "boleto") == {ours}
    assert await found(desk, attendant, "paula") == {ours}
    assert await found(desk, attendant, "5511922220000") == set()


async def test_search_results_come_in_pages(desk: Desk) -> None:
    admin = await desk.user("admin")
    made = await one_conversation_per_body(desk, *[f"problema número {n}" for n in range(5)])
    await one_conversation_per_body(desk, "outra coisa")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"q": "problema", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await get_json(desk, admin, "/api/v1/conversations", **params)
        seen += [item["id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(made)


@SQLITE_ONLY
async def test_sqlite_search_ignores_accents(desk: Desk) -> None:
    admin = await desk.user("admin")
    plane, action = await one_conversation_per_body(desk, "vou de aviao", "Ação judicial")
    assert await found(desk, admin, "avião") == {plane}
    assert await found(desk, admin, "AVIAO") == {plane}
    assert await found(desk, admin, "acao") == {action}
    assert await found(desk, admin, "judic") == {action}  # words are prefixes as you type


@POSTGRES_ONLY
async def test_postgres_search_stems_portuguese_words(desk: Desk) -> None:
    admin = await desk.user("admin")
    delivery, orders = await one_conversation_per_body(
        desk, "A entrega atrasou", "Fiz dois pedidos ontem"
    )
    assert await found(desk, admin, "entregas") == {delivery}
    assert await found(desk, admin, "entregar") == {delivery}
    assert await found(desk, admin, "pedido") == {orders}
    assert await found(desk, admin, '"dois pedidos"') == {orders}  # a phrase, web style
    assert await found(desk, admin, "pedido -ontem") == set()


@POSTGRES_ONLY
async def test_postgres_search_uses_the_body_search_index(desk: Desk) -> None:
    # As the app runs it: a prepared statement with the words as a parameter, planned
    # generically (as PostgreSQL does after a few runs); the index only matches when the
    # text-search configuration is a constant in the SQL.
    statement = select(Message.id).where(body_matches("entregas", "postgresql"))
    async with desk.app[keys.ENGINE].connect() as connection:
        compiled = statement.compile(connection.engine)
        values = ", ".join(
            "'" + str(compiled.params[name]).replace("'", "''") + "'"
            for name in compiled.positiontup or []
        )
        await connection.exec_driver_sql(f"PREPARE body_search AS {compiled}")
        await connection.exec_driver_sql("SET enable_seqscan = off")
        await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        result = await connection.exec_driver_sql(f"EXPLAIN EXECUTE body_search({values})")
        plan = "\n".join(str(row[0]) for row in result)
    assert "ix_messages_body_search" in plan, plan


async def test_an_empty_search_lists_everything(desk: Desk) -> None:
    admin = await desk.user("admin")
    made = await one_conversation_per_body(desk, "um", "dois")
    assert await found(desk, admin, "") == set(made)
    assert await found(desk, admin, "   ") == set(made)
    assert await found(desk, admin, "dois", status=ConversationStatus.OPEN.value) == {made[1]}
