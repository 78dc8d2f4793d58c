"""The copilot's smaller helps through the API: a summary for the next attendant, rewriting a
reply, and contact details proposed (never applied) from the conversation. Local rules and an
OpenAI-compatible endpoint; on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core import keys
from core.copilot.assist import rewrite_locally
from core.storage.models import Contact
from scripts.fake_openai import FakeOpenAI
from tests.conftest import Desk
from tests.copilot_kit import conversation_with, copilot_desk
from tests.test_conversations_api import Seed


async def call(desk: Desk, user: Any, path: str, body: Any = None) -> tuple[int, Any]:
    response = await desk.client.post("/api/v1" + path, json=body, headers=desk.auth(user))
    return response.status, await response.json()


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.close()


TURNS = [
    (True, "Oi, meu pedido 4821 veio com a tela quebrada"),
    (False, "Que pena! Vou abrir a troca agora mesmo."),
    (True, "Obrigada. E quando chega o novo?"),
]


async def test_a_local_summary_tells_the_next_attendant_where_things_stand(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url)
    admin = await desk.user("admin")
    outsider = await desk.user("attendant", departments=[1])
    seed = Seed(desk)
    conversation = await conversation_with(
        seed, "Ana Lima", "5511988880001", TURNS, department_id=3
    )
    status, body = await call(desk, admin, f"/conversations/{conversation}/summary")
    assert status == 200, body
    summary = body["text"]
    assert "Ana Lima" in summary
    assert "Dep 3" in summary
    assert "tela quebrada" in summary
    assert "Vou abrir a troca" in summary
    assert "quando chega o novo" in summary
    assert body["provider"] == "local"
    status, _ = await call(desk, outsider, f"/conversations/{conversation}/summary")
    assert status == 404


async def test_an_endpoint_summary_gets_the_transcript_as_data_masked(
    aiohttp_client: Any, tmp_path: Path, database_url: str, fake: FakeOpenAI
) -> None:
    fake.reply = lambda body: "Cliente quer saber do novo aparelho."
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url, base_url=fake.url)
    admin = await desk.user("admin")
    turns = [*TURNS, (True, "meu telefone é (11) 98888-0001")]
    conversation = await conversation_with(Seed(desk), "Ana Lima", "5511988880001", turns)
    status, body = await call(desk, admin, f"/conversations/{conversation}/summary")
    assert (status, body["text"]) == (200, "Cliente quer saber do novo aparelho.")
    [request] = fake.requests
    system, user = request["messages"]
    assert system["role"] == "system"
    assert "tela quebrada" not in system["content"]
    assert user["role"] == "user"
    assert "Cliente: Oi, meu pedido 4821" in user["content"]
    assert "98888-0001" not in user["content"]
    assert "[telefone]" in user["content"]

    fake.fail_status, fake.fail_times = 500, 10
    status, body = await call(desk, admin, f"/conversations/{conversation}/summary")
    assert status == 503
    assert body["error"]["code"] == "copilot_unavailable"
    assert body["error"]["details"] == {"reason": "provider_error"}


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("grammar", "Oi, você pode mandar o comprovante para eu conferir? Preciso hoje."),
        ("formal", "Olá! Você pode mandar o comprovante para eu conferir? Preciso hoje."),
        ("shorter", "Você pode mandar o comprovante pra eu conferir?"),
    ],
)
def test_local_rewrites(action: Any, expected: str) -> None:
    text = "oi, vc pode mandar o comprovante pra eu conferir ?preciso hoje"
    if action == "shorter":
        text = "Oi! Você pode mandar o comprovante pra eu conferir? Na verdade, preciso hoje."
        assert rewrite_locally(text, action) in (expected, expected + " Preciso hoje.")
        assert len(rewrite_locally(text, action)) < len(text)
        return
    assert rewrite_locally(text, action) == expected


async def test_rewrite_through_the_api(
    aiohttp_client: Any, tmp_path: Path, database_url: str, fake: FakeOpenAI
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url)
    attendant = await desk.user("attendant")
    status, body = await call(
        desk,
        attendant,
        "/copilot/rewrite",
        {"text": "blz, vc recebe amanha", "action": "friendlier"},
    )
    assert status == 200, body
    assert "disposição" in body["text"]
    assert body["text"].startswith("Olá!")
    for bad in (
        {"text": "  ", "action": "grammar"},
        {"text": "oi", "action": "poetic"},
        {"text": "x" * 5000, "action": "grammar"},
        {"action": "grammar"},
    ):
        status, body = await call(desk, attendant, "/copilot/rewrite", bad)
        assert (status, body["error"]["code"]) == (422, "validation_error"), bad

    remote = await copilot_desk(
        aiohttp_client, tmp_path / "remote", database_url, base_url=fake.url
    )
    fake.reply = lambda body: "Você recebe amanhã."
    user = await remote.user("attendant")
    status, body = await call(
        remote,
        user,
        "/copilot/rewrite",
        {"text": "vc recebe amanha, liga 11 97777-1234", "action": "grammar"},
    )
    assert (status, body["text"], body["provider"]) == (200, "Você recebe amanhã.", "openai")
    [request] = fake.requests
    assert request["messages"][-1] == {
        "role": "user",
        "content": "vc recebe amanha, liga [telefone]",
    }
    assert "Corrija" in request["messages"][0]["content"]


async def test_contact_details_are_proposed_and_applied_only_when_accepted(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url)
    attendant = await desk.user("attendant")
    conversation = await conversation_with(
        Seed(desk),
        "5511988880001",
        "5511988880001",
        [
            (True, "Oi, meu nome é Ana Paula Souza e trabalho na Acme Ltda."),
            (False, "Olá! Como posso ajudar?"),
            (True, "Pode mandar a nota para ana.souza@acme.com.br"),
        ],
    )
    status, proposal = await call(
        desk, attendant, f"/conversations/{conversation}/contact-proposal"
    )
    assert status == 200, proposal
    assert (proposal["name"], proposal["email"], proposal["company"]) == (
        "Ana Paula Souza",
        "ana.souza@acme.com.br",
        "Acme Ltda",
    )
    async with desk.app[keys.SESSIONS]() as db:
        contact = await db.get(Contact, proposal["contact_id"])
        assert contact is not None
        assert (contact.name, contact.email) == ("5511988880001", None)  # nothing applied

    response = await desk.client.patch(
        f"/api/v1/contacts/{proposal['contact_id']}",
        json=proposal["changes"],
        headers=desk.auth(attendant),
    )
    accepted = await response.json()
    assert response.status == 200, accepted
    assert accepted["name"] == "Ana Paula Souza"
    assert accepted["email"] == "ana.souza@acme.com.br"
    assert accepted["attributes"]["company"] == "Acme Ltda"
    status, again = await call(desk, attendant, f"/conversations/{conversation}/contact-proposal")
    assert again["changes"] == {}
