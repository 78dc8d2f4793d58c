"""The bot of a number, as a customer meets it: greeting and numbered menu, the menu again after
an answer it does not understand, the chosen department's queue, a person on request, the
fallback after too many tries or an unanswered menu, silence once someone holds the
conversation, and the out-of-hours message once per conversation. Both databases."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core import keys
from core.desk.bot import BotConfig, Menu, Option, choice, render
from core.jobs import JOBS
from core.storage.models import (
    ActorType,
    Channel,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Job,
    Message,
)
from sessions.states import SessionState
from tests.conftest import Desk
from tests.test_desk import call
from tests.test_ingest import SESSION, T0, maria, post, received, session_status

MENU = {"prompt": "Escolha uma opção:", "options": []}


async def number_with_bot(desk: Desk, admin: Any, **config: Any) -> int:
    await post(desk, session_status(SessionState.CONNECTED, datetime.now(UTC)))
    async with desk.app[keys.SESSIONS]() as db:
        channel_id = await db.scalar(select(Channel.id).where(Channel.session_id == SESSION))
    status, answer = await call(
        desk, admin, "PUT", f"/channels/{channel_id}/bot", {"enabled": True, **config}
    )
    assert status == 200, answer
    return int(channel_id)


async def departments(desk: Desk, admin: Any, *names: str) -> list[int]:
    made = []
    for name in names:
        status, department = await call(desk, admin, "POST", "/departments", {"name": name})
        assert status == 201
        made.append(department["id"])
    return made


class Customer:
    def __init__(self, desk: Desk, n: int = 1) -> None:
        self.desk = desk
        self.jid = f"55119{n:08d}@s.whatsapp.net"
        self.sent = 0

    async def writes(self, text: str) -> None:
        self.sent += 1
        at = T0 + timedelta(seconds=self.sent)
        peer = maria(self.jid, pn=self.jid)
        await post(self.desk, received(f"{self.jid}-{self.sent}", text, peer=peer, at=at))

    async def conversation(self) -> Conversation:
        async with self.desk.app[keys.SESSIONS]() as db:
            found = list(await db.scalars(select(Conversation).order_by(Conversation.id.desc())))
        return found[0]

    async def heard(self, count: int) -> list[str]:
        """The bot's messages once there are ``count`` of them (after the jobs have run)."""
        deadline = time.monotonic() + 15
        while True:
            async with self.desk.app[keys.SESSIONS]() as db:
                said = list(
                    await db.scalars(
                        select(Message.body)
                        .where(Message.author_type == ActorType.BOT)
                        .order_by(Message.id)
                    )
                )
                busy = await db.scalar(
                    select(Job.id).where(Job.kind.in_(["bot.reply", "assign.sweep"])).limit(1)
                )
            if len(said) >= count and busy is None:
                return said
            assert time.monotonic() < deadline, f"the bot said {said}"
            await asyncio.sleep(0.02)


async def test_the_menu_routes_the_customer_to_the_chosen_department(desk: Desk) -> None:
    admin = await desk.user("admin")
    vendas, financeiro = await departments(desk, admin, "Vendas", "Financeiro")
    menu = {
        "prompt": "Com quem quer falar?",
        "options": [
            {"label": "Vendas", "department_id": vendas},
            {"label": "Financeiro", "department_id": financeiro},
        ],
    }
    await number_with_bot(desk, admin, greeting="Olá, {nome}! Bem-vinda.", menu=menu)
    maria_ = Customer(desk)
    await maria_.writes("Oi")
    shown = "Com quem quer falar?\n1️⃣ Vendas\n2️⃣ Financeiro"
    # Greeting and menu in one message: one notification on the customer's phone.
    assert await maria_.heard(1) == [f"Olá, Maria! Bem-vinda.\n\n{shown}"]
    assert (await maria_.conversation()).status is ConversationStatus.BOT

    await maria_.writes("x")
    said = await maria_.heard(2)
    assert said[1] == (
        f"Desculpe, não entendi. Responda com o número de uma das opções.\n\n{shown}"
    )

    await maria_.writes("2")
    said = await maria_.heard(3)
    assert said[2] == "Certo! Já vamos te atender. 😉"
    conversation = await maria_.conversation()
    assert (conversation.status, conversation.department_id) == (
        ConversationStatus.QUEUED,
        financeiro,
    )
    async with desk.app[keys.SESSIONS]() as db:
        routed = await db.scalar(
            select(ConversationEvent)
            .where(ConversationEvent.to_status == ConversationStatus.QUEUED)
            .order_by(ConversationEvent.id.desc())
        )
    assert routed is not None
    assert (routed.actor_type, routed.reason, routed.to_department_id) == (
        ActorType.BOT,
        "menu: Financeiro",
        financeiro,
    )
    # Bot messages are real outbound messages, each with its send job.
    async with desk.app[keys.SESSIONS]() as db:
        sends = await db.scalars(select(Job.key).where(Job.kind == "send"))
        bot_ids = await db.scalars(select(Message.id).where(Message.author_type == ActorType.BOT))
        assert set(sends) == {str(i) for i in bot_ids}


async def test_sub_menus_a_person_on_request_and_the_fallback_after_too_many_tries(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    vendas, trocas = await departments(desk, admin, "Vendas", "Trocas")
    menu = {
        "prompt": "Olá! Escolha:",
        "options": [
            {
                "label": "Pedidos",
                "menu": {
                    "prompt": "Sobre pedidos:",
                    "options": [
                        {"label": "Novo pedido", "department_id": vendas},
                        {"label": "Troca", "department_id": trocas},
                    ],
                },
            }
        ],
    }
    await number_with_bot(desk, admin, menu=menu, max_tries=2, routed_reply="")
    first = Customer(desk, 1)
    await first.writes("bom dia")
    await first.heard(1)
    await first.writes("1")
    assert (await first.heard(2))[1] == "Sobre pedidos:\n1️⃣ Novo pedido\n2️⃣ Troca"
    await first.writes("troca")  # by its label, any case
    await first.heard(2)
    conversation = await first.conversation()
    assert conversation.department_id == trocas

    second = Customer(desk, 2)
    await second.writes("oi")
    await second.heard(3)
    await second.writes("quero falar com um ATENDENTE")
    await second.heard(3)
    assert (await second.conversation()).department_id == 1  # the default department

    third = Customer(desk, 3)
    await third.writes("oi")
    await third.heard(4)
    await third.writes("banana")
    await third.heard(5)  # not understood: the menu again
    await third.writes("laranja")  # the second miss: to the fallback
    await third.heard(5)
    conversation = await third.conversation()
    assert (conversation.status, conversation.department_id) == (ConversationStatus.QUEUED, 1)


async def test_an_unanswered_menu_times_out_to_the_fallback_and_a_held_one_is_never_answered(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    [vendas] = await departments(desk, admin, "Vendas")
    menu = {"prompt": "Escolha:", "options": [{"label": "Vendas", "department_id": vendas}]}
    await number_with_bot(desk, admin, menu=menu, fallback_department_id=vendas, timeout_s=600)
    quiet = Customer(desk, 1)
    await quiet.writes("oi")
    await quiet.heard(1)
    async with desk.app[keys.SESSIONS].begin() as db:
        [timer] = await db.scalars(select(Job).where(Job.kind == "bot.timeout"))
        assert timer.run_at > datetime.now(UTC) + timedelta(minutes=9)
        # Ten minutes pass.
        await db.execute(update(Job).where(Job.id == timer.id).values(run_at=datetime.now(UTC)))
    desk.app[JOBS].wake()
    deadline = time.monotonic() + 15
    while (await quiet.conversation()).status is ConversationStatus.BOT:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    conversation = await quiet.conversation()
    assert conversation.department_id == vendas

    held = Customer(desk, 2)
    await held.writes("oi")
    said = len(await held.heard(3))  # greeting and menu (and quiet's routed reply)
    ana = await desk.user("attendant", departments=[vendas])
    conversation = await held.conversation()
    assert (await call(desk, ana, "POST", f"/conversations/{conversation.id}/claim"))[0] == 200
    await held.writes("1")
    assert len(await held.heard(said)) == said  # silent: Ana holds it


async def test_a_bot_may_close_an_unanswered_menu_instead(desk: Desk) -> None:
    admin = await desk.user("admin")
    menu = {"prompt": "Escolha:", "options": [{"label": "Vendas", "department_id": 1}]}
    await number_with_bot(desk, admin, menu=menu, timeout_s=600, on_timeout="close")
    quiet = Customer(desk, 1)
    await quiet.writes("oi")
    await quiet.heard(1)
    async with desk.app[keys.SESSIONS].begin() as db:
        await db.execute(
            update(Job).where(Job.kind == "bot.timeout").values(run_at=datetime.now(UTC))
        )
    desk.app[JOBS].wake()
    deadline = time.monotonic() + 15
    while (await quiet.conversation()).status is ConversationStatus.BOT:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    closed = await quiet.conversation()
    assert (closed.status, closed.department_id) == (ConversationStatus.CLOSED, None)
    # A later message starts a new conversation, greeted again.
    await quiet.writes("voltei")
    await quiet.heard(2)
    assert (await quiet.conversation()).id != closed.id


async def test_out_of_hours_the_customer_is_told_once_and_still_waits_in_the_queue(
    desk: Desk,
) -> None:
    admin = await desk.user("admin")
    today = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[datetime.now(UTC).weekday()]
    others = [d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") if d != today]
    status, closed = await call(
        desk,
        admin,
        "POST",
        "/departments",
        {
            "name": "Financeiro",
            "timezone": "UTC",
            "hours": {day: [["08:00", "18:00"]] for day in others},
            "out_of_hours_message": "Estamos fechados hoje; respondemos no próximo dia útil.",
        },
    )
    assert status == 201
    menu = {
        "prompt": "Escolha:",
        "options": [{"label": "Financeiro", "department_id": closed["id"]}],
    }
    await number_with_bot(desk, admin, menu=menu, routed_reply="")
    customer = Customer(desk)
    await customer.writes("oi")
    await customer.heard(1)
    await customer.writes("1")
    said = await customer.heard(2)
    assert said[1] == "Estamos fechados hoje; respondemos no próximo dia útil."
    await customer.writes("alô?")
    await customer.writes("tem alguém?")
    assert len(await customer.heard(2)) == 2  # told once per conversation
    conversation = await customer.conversation()
    assert (conversation.status, conversation.department_id) == (
        ConversationStatus.QUEUED,
        closed["id"],
    )


async def test_a_bot_set_up_wrong_gets_a_clear_error(desk: Desk) -> None:
    admin = await desk.user("admin")
    channel_id = await number_with_bot(desk, admin)
    bad = [
        {"menu": {"options": [{"label": "Nada"}]}},
        {"menu": {"options": [{"label": "Vendas", "department_id": 999}]}},
        {"max_tries": 0},
    ]
    for body in bad:
        status, answer = await call(desk, admin, "PUT", f"/channels/{channel_id}/bot", body)
        assert (status, answer["error"]["code"]) == (422, "validation_error"), body
    supervisor = await desk.user("supervisor")
    status, shown = await call(desk, supervisor, "GET", f"/channels/{channel_id}/bot")
    assert (status, shown["enabled"]) == (200, True)
    status, _ = await call(desk, supervisor, "PUT", f"/channels/{channel_id}/bot", {})
    assert status == 403


def test_answers_are_read_the_way_people_write_them() -> None:
    menu = Menu(
        prompt="Escolha:",
        options=[
            Option(label="Vendas", department_id=1),
            Option(label="Financeiro", department_id=2),
        ],
    )
    assert [choice(menu, t) for t in ("2", " 2 ", "2)", "2️⃣", "financeiro", "FINANCEIRO")] == [
        menu.options[1]
    ] * 6
    assert [choice(menu, t) for t in ("3", "0", "x", "")] == [None] * 4
    assert render(menu) == "Escolha:\n1️⃣ Vendas\n2️⃣ Financeiro"
    assert BotConfig().enabled is False
