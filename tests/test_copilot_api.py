"""The copilot end to end: a customer's message posted by the gateway gets a draft stored and
published; an attendant answering first cancels it; feedback and the stats; the knowledge
base API. On both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis as SyncRedis
from sqlalchemy import select

from core import keys
from core.app import create_app
from core.copilot.text import levenshtein
from core.realtime.config import REALTIME, RealtimeConfig
from core.settings import CopilotSettings, RedisSettings
from core.storage.models import Message, Suggestion
from scripts.fake_openai import FakeOpenAI
from sessions.events import ChatPresenceEvent, PresenceData, PresenceState
from tests.conftest import Desk, make_settings
from tests.copilot_kit import (
    conversation_with,
    copilot_desk,
    eventually,
    latest,
    notices,
    regenerate,
    service,
    settled,
)
from tests.test_conversations_api import Seed
from tests.test_copilot_local import seeded
from tests.test_ingest import PN, SESSION, post, received


async def suggestions(desk: Desk) -> list[Suggestion]:
    async with desk.app[keys.SESSIONS]() as db:
        return list(await db.scalars(select(Suggestion).order_by(Suggestion.id)))


async def message_ids(desk: Desk) -> list[int]:
    async with desk.app[keys.SESSIONS]() as db:
        return list(await db.scalars(select(Message.id).order_by(Message.id)))


async def test_a_customer_message_from_the_gateway_gets_a_draft_stored_and_published(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url, debounce_ms=50)
    await seeded(desk)
    admin = await desk.user("admin")
    before = set(await message_ids(desk))

    await post(desk, received("WA1", "Oi, qual o prazo de entrega para o Rio de Janeiro?"))
    [message_id] = set(await message_ids(desk)) - before

    async def created() -> Any:
        return await notices(desk, "suggestion.created")

    [notice] = await eventually(created)
    conversation = notice.data["conversation_id"]
    assert notice.topic == f"conversation:{conversation}"
    assert notice.data["message_id"] == message_id
    assert "5 dias úteis" in notice.data["text"]
    stored = await latest(desk, admin, conversation)
    assert stored == notice.data  # stored before it was published, the same view


async def test_a_burst_of_messages_gets_one_draft(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url, debounce_ms=2000)
    await seeded(desk)
    admin = await desk.user("admin")
    await post(desk, received("WA1", "Oi, boa tarde"))
    await post(desk, received("WA2", "vocês aceitam troca de produto com defeito?"))
    last = max(await message_ids(desk))

    async def drafted() -> Any:
        return await notices(desk, "suggestion.created")

    [notice] = await eventually(drafted)
    assert notice.data["message_id"] == last
    assert "90 dias" in notice.data["text"]
    assert len(await suggestions(desk)) == 1
    assert (await latest(desk, admin, notice.data["conversation_id"]))["state"] == "ready"


def presence(state: PresenceState) -> ChatPresenceEvent:
    return ChatPresenceEvent(session_id=SESSION, data=PresenceData(chat=PN, sender=PN, state=state))


async def test_the_customer_typing_holds_the_draft_until_they_pause(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(
        aiohttp_client, tmp_path, database_url, debounce_ms=50, typing_hold_s=60
    )
    await seeded(desk)
    # One batch: the message schedules a draft, the typing right after it holds the draft.
    await post(
        desk,
        received("WA1", "vocês aceitam troca de produto com defeito?"),
        presence(PresenceState.TYPING),
    )
    await asyncio.sleep(0.5)  # ten quiet times: only the typing can have held it
    assert await suggestions(desk) == []

    await post(desk, presence(PresenceState.PAUSED))

    async def drafted() -> Any:
        return await notices(desk, "suggestion.created")

    [notice] = await eventually(drafted)
    assert "90 dias" in notice.data["text"]


@pytest.fixture
async def slow_fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI(delay_s=30)
    await server.start()
    yield server
    await server.close()


async def test_an_attendant_answering_first_cancels_the_draft(
    aiohttp_client: Any, tmp_path: Path, database_url: str, slow_fake: FakeOpenAI
) -> None:
    desk = await copilot_desk(
        aiohttp_client, tmp_path, database_url, base_url=slow_fake.url, debounce_ms=0
    )
    admin = await desk.user("admin")
    await post(desk, received("WA1", "Qual o prazo de entrega?"))

    async def streaming() -> Any:
        rows = await suggestions(desk)
        return rows if rows and rows[0].state == "streaming" else None

    [row] = await eventually(streaming)
    response = await desk.client.post(
        f"/api/v1/conversations/{row.conversation_id}/messages",
        json={"text": "Oi! Chega amanhã."},
        headers=desk.auth(admin),
    )
    assert response.status == 202, await response.text()

    async def cancelled() -> Any:
        return await notices(desk, "suggestion.updated")

    [notice] = await eventually(cancelled)
    assert notice.data["id"] == row.id
    assert notice.data["state"] == "cancelled"
    assert (await latest(desk, admin, row.conversation_id))["state"] == "cancelled"
    assert not await notices(desk, "suggestion.created")


async def feedback(desk: Desk, user: Any, suggestion_id: int, body: dict[str, Any]) -> Any:
    response = await desk.client.post(
        f"/api/v1/suggestions/{suggestion_id}/feedback", json=body, headers=desk.auth(user)
    )
    return response.status, await response.json()


async def test_feedback_and_stats(aiohttp_client: Any, tmp_path: Path, database_url: str) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url)
    seed = await seeded(desk)
    admin = await desk.user("admin")
    attendant = await desk.user("attendant", departments=[7])
    questions = [
        "qual o prazo de entrega pro rio de janeiro?",
        "aceitam troca de produto com defeito?",
        "quanto é o frete para curitiba?",
        "qual o prazo de entrega para o rio?",
        "vocês vendem bicicletas elétricas?",  # nothing similar: a failed draft
    ]
    drafts = []
    for number, question in enumerate(questions):
        conversation = await conversation_with(
            seed, f"Cliente {number}", f"55119555500{number:02d}", [(True, question)]
        )
        await regenerate(desk, admin, conversation)
        drafts.append(await settled(desk, admin, conversation))
    accepted, edited, dismissed, ignored, failed = drafts
    assert failed["state"] == "failed"

    status, body = await feedback(desk, admin, accepted["id"], {"outcome": "accepted"})
    assert status == 200
    assert body["outcome"] == "accepted"
    assert body["edit_distance"] == 0
    final = edited["text"].replace("Aceitamos sim", "Sim, aceitamos")
    status, body = await feedback(
        desk, admin, edited["id"], {"outcome": "edited", "final_text": final}
    )
    assert status == 200
    assert body["outcome"] == "edited"
    assert body["edit_distance"] > 0
    status, body = await feedback(desk, admin, dismissed["id"], {"outcome": "dismissed"})
    assert status == 200
    assert body["outcome"] == "dismissed"

    # The attendant answers without the draft: it is counted as ignored.
    response = await desk.client.post(
        f"/api/v1/conversations/{ignored['conversation_id']}/messages",
        json={"text": "Vou verificar e já te retorno."},
        headers=desk.auth(admin),
    )
    assert response.status == 202

    async def marked() -> Any:
        rows = await suggestions(desk)
        return [r for r in rows if r.id == ignored["id"] and r.outcome == "ignored"]

    await eventually(marked)

    # Bad feedback: clear errors.
    status, body = await feedback(desk, admin, failed["id"], {"outcome": "accepted"})
    assert (status, body["error"]["code"]) == (409, "conflict")
    status, body = await feedback(desk, admin, accepted["id"], {"outcome": "edited"})
    assert (status, body["error"]["code"]) == (422, "validation_error")
    status, body = await feedback(desk, admin, accepted["id"], {"outcome": "loved"})
    assert (status, body["error"]["code"]) == (422, "validation_error")
    status, body = await feedback(desk, admin, 999_999, {"outcome": "accepted"})
    assert status == 404

    response = await desk.client.get("/api/v1/copilot/stats", headers=desk.auth(admin))
    stats = await response.json()
    assert response.status == 200, stats
    assert stats["drafts"] == 5
    assert stats["by_state"] == {"ready": 4, "failed": 1}
    assert stats["by_outcome"] == {"accepted": 1, "edited": 1, "dismissed": 1, "ignored": 1}
    assert stats["by_provider"] == {"local": 5}
    assert stats["acceptance_rate"] == 0.5
    assert stats["mean_edit_distance"] == float(levenshtein(edited["text"], final))
    assert stats["latency_ms"]["count"] == 4
    assert stats["latency_ms"]["p50"] <= stats["latency_ms"]["p95"] <= stats["latency_ms"]["p99"]
    response = await desk.client.get("/api/v1/copilot/stats", headers=desk.auth(attendant))
    assert response.status == 403
    await response.read()


async def test_attendants_see_only_drafts_of_conversations_they_may_see(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url)
    seed = await seeded(desk)
    admin = await desk.user("admin")
    outsider = await desk.user("attendant", departments=[1])
    member = await desk.user("attendant", departments=[2])
    conversation = await conversation_with(
        seed, "Ana", "5511944440001", [(True, "aceitam troca com defeito?")], department_id=2
    )
    await regenerate(desk, admin, conversation)
    draft = await settled(desk, admin, conversation)

    assert (await latest(desk, member, conversation))["id"] == draft["id"]
    path = f"/api/v1/conversations/{conversation}/suggestion"
    response = await desk.client.get(path, headers=desk.auth(outsider))
    assert response.status == 404
    await response.read()
    status, _ = await feedback(desk, outsider, draft["id"], {"outcome": "accepted"})
    assert status == 404
    response = await desk.client.post(
        f"/api/v1/conversations/{conversation}/suggestions", headers=desk.auth(outsider)
    )
    assert response.status == 404
    await response.read()
    # No draft yet: 404 too.
    other = await conversation_with(seed, "Bia", "5511944440002", [(True, "oi")])
    response = await desk.client.get(
        f"/api/v1/conversations/{other}/suggestion", headers=desk.auth(admin)
    )
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_the_knowledge_base_api(desk: Desk) -> None:
    supervisor = await desk.user("supervisor")
    attendant = await desk.user("attendant")

    async def call(method: str, path: str, user: Any, **kwargs: Any) -> tuple[int, Any]:
        response = await desk.client.request(
            method, "/api/v1" + path, headers=desk.auth(user), **kwargs
        )
        text = await response.text()
        return response.status, (await response.json()) if text else None

    status, article = await call(
        "POST",
        "/knowledge",
        supervisor,
        json={
            "title": "  Política de   trocas ",
            "body": "Trocas em até **30 dias**.\n\nDefeito: até 90 dias, com atenção ao lacre.",
            "tags": ["Trocas", "trocas", "pós-venda"],
        },
    )
    assert status == 201, article
    assert article["title"] == "Política de trocas"
    assert article["tags"] == ["trocas", "pós-venda"]
    status, other = await call(
        "POST",
        "/knowledge",
        supervisor,
        json={"title": "Frete", "body": "Frete grátis acima de R$ 200."},
    )
    assert status == 201

    status, _ = await call("POST", "/knowledge", attendant, json={"title": "x"})
    assert status == 403
    for bad in ({"title": ""}, {"title": "   "}, {"title": "x", "tags": [""]}, {"body": "x"}):
        status, body = await call("POST", "/knowledge", supervisor, json=bad)
        assert (status, body["error"]["code"]) == (422, "validation_error"), bad

    status, found = await call("GET", "/knowledge", attendant, params={"q": "ATENCAO lacre"})
    assert status == 200
    assert [a["id"] for a in found["items"]] == [article["id"]]
    status, found = await call("GET", "/knowledge", attendant, params={"q": "frete"})
    assert [a["id"] for a in found["items"]] == [other["id"]]
    status, found = await call("GET", "/knowledge", attendant, params={"tag": "Pós-Venda"})
    assert [a["id"] for a in found["items"]] == [article["id"]]
    status, found = await call("GET", "/knowledge", attendant)
    assert {a["id"] for a in found["items"]} == {article["id"], other["id"]}
    status, found = await call("GET", "/knowledge", attendant, params={"q": "100%_x"})
    assert (status, found["items"]) == (200, [])

    status, edited = await call(
        "PATCH",
        f"/knowledge/{other['id']}",
        supervisor,
        json={"body": "Frete grátis acima de R$ 150."},
    )
    assert status == 200
    assert edited["title"] == "Frete"
    assert "150" in edited["body"]
    status, _ = await call("PATCH", f"/knowledge/{other['id']}", attendant, json={"title": "y"})
    assert status == 403
    status, found = await call("GET", "/knowledge", attendant, params={"q": "150"})
    assert [a["id"] for a in found["items"]] == [other["id"]]

    status, _ = await call("DELETE", f"/knowledge/{other['id']}", supervisor)
    assert status == 204
    status, body = await call("GET", f"/knowledge/{other['id']}", attendant)
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await call("GET", f"/knowledge/{article['id']}", attendant)
    assert status == 200
    assert body["body"].startswith("Trocas em até")


async def test_a_copilot_turned_off_drafts_nothing(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url, provider="off", debounce_ms=0)
    admin = await desk.user("admin")
    await post(desk, received("WA1", "Qual o prazo de entrega?"))
    assert not service(desk).busy(1)
    response = await desk.client.post(
        "/api/v1/conversations/1/suggestions", headers=desk.auth(admin)
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "copilot_disabled"
    assert await suggestions(desk) == []


async def test_an_unanswerable_message_is_counted_but_not_shown(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url, debounce_ms=0)
    await post(desk, received("WA1", "Vocês vendem bicicletas elétricas?"))

    async def failed() -> Any:
        rows = await suggestions(desk)
        return rows if rows and rows[0].state == "failed" else None

    [row] = await eventually(failed)
    assert row.error_code == "nothing_to_suggest"
    assert [n.type for n in await notices(desk) if n.type.startswith("suggestion.")] == []


@pytest.fixture
def bus_prefix(redis_server: str) -> Iterator[str]:
    """Redis keys of this test alone, deleted afterwards."""
    name = f"zapdesk-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = SyncRedis.from_url(redis_server)
    try:
        for key in client.scan_iter(f"{name}:*"):
            client.delete(key)
    finally:
        client.close()


@pytest.mark.redis
async def test_an_answer_on_another_replica_cancels_the_draft(
    aiohttp_client: Any,
    tmp_path: Path,
    database_url: str,
    redis_server: str,
    bus_prefix: str,
    slow_fake: FakeOpenAI,
) -> None:
    desks = []
    for name in ("a", "b"):
        settings = make_settings(
            tmp_path / name,
            database_url,
            redis=RedisSettings(redis_url=redis_server),
            copilot=CopilotSettings(base_url=slow_fake.url, debounce_ms=0),
        )
        app = create_app(settings)
        app[REALTIME] = RealtimeConfig(redis_prefix=bus_prefix, redis_block_ms=200)
        desks.append(Desk(await aiohttp_client(app)))
    drafting, other = desks
    admin = await other.user("admin")
    await post(drafting, received("WA1", "Qual o prazo de entrega?"))

    async def streaming() -> Any:
        rows = await suggestions(drafting)
        return rows if rows and rows[0].state == "streaming" else None

    [row] = await eventually(streaming)
    response = await other.client.post(
        f"/api/v1/conversations/{row.conversation_id}/messages",
        json={"text": "Oi! Chega amanhã."},
        headers=other.auth(admin),
    )
    assert response.status == 202, await response.text()

    async def cancelled() -> Any:
        rows = await suggestions(drafting)
        return rows if rows[0].state == "cancelled" else None

    await eventually(cancelled)
    assert not service(drafting).busy(row.conversation_id)


async def test_quick_replies_api_and_the_local_copilot_uses_them(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    desk = await copilot_desk(aiohttp_client, tmp_path, database_url)
    supervisor = await desk.user("supervisor")
    attendant = await desk.user("attendant")

    async def call(method: str, path: str, user: Any, body: Any = None) -> tuple[int, Any]:
        response = await desk.client.request(
            method, "/api/v1" + path, json=body, headers=desk.auth(user)
        )
        text = await response.text()
        return response.status, (await response.json()) if text else None

    pix = {"shortcut": "/PIX", "text": "Nossa chave Pix é o CNPJ da loja; o desconto é de 5%."}
    status, reply = await call("POST", "/quick-replies", supervisor, pix)
    assert status == 201, reply
    assert reply["shortcut"] == "pix"
    status, body = await call("POST", "/quick-replies", supervisor, pix)
    assert (status, body["error"]["code"]) == (409, "conflict")
    status, _ = await call("POST", "/quick-replies", attendant, {"shortcut": "x", "text": "y"})
    assert status == 403
    for bad in ({"shortcut": "com espaço", "text": "y"}, {"shortcut": "ok", "text": "  "}):
        status, body = await call("POST", "/quick-replies", supervisor, bad)
        assert (status, body["error"]["code"]) == (422, "validation_error"), bad
    status, other = await call(
        "POST", "/quick-replies", supervisor, {"shortcut": "oi", "text": "Olá! Como posso ajudar?"}
    )
    assert status == 201
    status, body = await call(
        "PATCH", f"/quick-replies/{other['id']}", supervisor, {"shortcut": "pix"}
    )
    assert (status, body["error"]["code"]) == (409, "conflict")
    status, listed = await call("GET", "/quick-replies", attendant)
    assert [r["shortcut"] for r in listed["items"]] == ["oi", "pix"]

    conversation = await conversation_with(
        Seed(desk), "Rita Lopes", "5511933330001", [(True, "qual a chave pix de vocês?")]
    )
    await regenerate(desk, attendant, conversation)
    draft = await settled(desk, attendant, conversation)
    assert draft["state"] == "ready", draft
    assert "chave Pix é o CNPJ" in draft["text"]

    status, _ = await call("DELETE", f"/quick-replies/{reply['id']}", supervisor)
    assert status == 204
    status, listed = await call("GET", "/quick-replies", attendant)
    assert [r["shortcut"] for r in listed["items"]] == ["oi"]
