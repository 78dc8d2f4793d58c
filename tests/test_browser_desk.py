"""The desk in a real browser against the real product.

First: an admin creates the department "Vendas" on the Departments page (members, weekly
hours, a holiday); a customer writes and the conversation waits in the default department's
queue; Ana, of that department, sees it in *Fila*, claims it (*Assumir*), answers, and
transfers it to Vendas with a note and a message to the customer; Bruno, of Vendas only,
finds it in Vendas' queue with the note on top and the transitions as lines in the chat. On
the way: the admin's refusals said in words (the default department, one still holding a
conversation) and the team's presence, live.

Second: the admin sets up the number's bot in its editor (a menu "1 Vendas / 2 Financeiro",
checked in the live preview and its simulator; a refusal from the server shown under the
field it names); the customer is greeted, answers something the bot does not understand, gets
the menu again and picks Financeiro; the conversation waits in Financeiro's queue for Ana and
never reaches Bruno's; Ana claims it, answers and transfers it to Vendas with a note, where
auto-assignment hands it to Bruno (online) at once: he reads the note and the timeline, with
Ana's name in it although she is not in his team.

Screenshots, desktop and phone width, like the other browser tests."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser_world import (
    ADMIN_PASSWORD,
    BUSINESS,
    CUSTOMER,
    Product,
    admin_call,
    browser,
    eventually,
    from_business,
    link_number,
    new_page,
    page,
    product,
    screenshots,
    sign_in,
)

__all__ = ["browser", "page", "product"]  # fixtures

pytestmark = pytest.mark.timeout(120)

ANA_EMAIL = "ana@empresa.com.br"
BRUNO_EMAIL = "bruno@empresa.com.br"
NOTE = "Quer 3 unidades do modelo azul; já passei o frete."
TO_CUSTOMER = "Vou te transferir para Vendas"
GREETING = "Olá, Carla! 👋 Obrigado por falar com a gente."
MENU = "Escolha uma opção:\n1\ufe0f\u20e3 Vendas\n2\ufe0f\u20e3 Financeiro"
NOT_UNDERSTOOD = "Desculpe, não entendi. Responda com o número de uma das opções."
ROUTED = "Certo! Já vamos te atender. 😉"


async def add_attendant(product: Product, name: str, email: str, departments: Any) -> int:
    """An attendant made through the API; ``departments`` None: the default department."""
    body: dict[str, Any] = {
        "name": name,
        "email": email,
        "role": "attendant",
        "password": ADMIN_PASSWORD,
    }
    if departments is not None:
        body["department_ids"] = departments
    status, answer = await admin_call(product, "POST", "/users", body)
    assert status == 201, answer
    return int(answer["id"])


async def customer_got(product: Product, text: str) -> bool:
    return text in await from_business(product)


async def create_department(product: Product, name: str, members: list[int], **more: Any) -> int:
    body = {"name": name, "member_ids": members, **more}
    status, answer = await admin_call(product, "POST", "/departments", body)
    assert status == 201, answer
    return int(answer["id"])


async def create_vendas(page: Any, product: Product, bruno_id: int) -> None:
    """The admin makes "Vendas" with Bruno in it, open Monday to Friday and Saturday morning,
    closed on Christmas."""
    await page.get_by_role("link", name="Departamentos").click()
    await page.get_by_role("heading", name="Departamentos").wait_for()
    default = page.locator('[data-department="Atendimento"]')
    await default.get_by_text("padrão", exact=True).wait_for()

    # The default department cannot be deleted: the page says why.
    await default.get_by_role("button", name="Excluir Atendimento").click()
    await page.get_by_role("dialog", name="Excluir").get_by_role("button", name="Excluir").click()
    await (
        page.get_by_role("alert")
        .filter(has_text="Atendimento é o departamento padrão e não pode ser excluído")
        .wait_for()
    )

    await page.get_by_role("button", name="Novo departamento").click()
    dialog = page.get_by_role("dialog", name="Novo departamento")
    await dialog.get_by_label("Nome", exact=True).fill("Vendas")
    await dialog.get_by_label("Descrição").fill("Orçamentos e pedidos")
    await dialog.get_by_role("checkbox", name="Bruno").check()
    assert await dialog.get_by_label("Fuso horário").input_value() == "America/Sao_Paulo"
    await dialog.get_by_role("checkbox", name="Sempre aberto").uncheck()
    await dialog.get_by_role("button", name="Adicionar horário (Sáb)").click()
    await dialog.get_by_label("Fim (Sáb)").fill("12:00")
    await dialog.get_by_label("Data do feriado").fill("2026-12-25")
    await dialog.get_by_role("button", name="Adicionar feriado").click()
    await dialog.get_by_label("Mensagem fora do horário").fill("Voltamos amanhã às 8h.")
    await screenshots(page, "department-new")
    await dialog.get_by_role("button", name="Criar departamento").click()
    await page.get_by_role("status").filter(has_text="Departamento Vendas criado.").wait_for()
    await dialog.wait_for(state="detached")
    vendas = page.locator('[data-department="Vendas"]')
    # The list sums the week up (an en dash between days and hours, as typeset).
    summary = "Seg{0}Sex 08:00{0}18:00 · Sáb 08:00{0}12:00".format("\u2013")
    await vendas.get_by_text(summary).wait_for()

    status, answer = await admin_call(product, "GET", "/departments")
    assert status == 200, answer
    saved = next(d for d in answer["items"] if d["name"] == "Vendas")
    week = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    assert saved["hours"] == week | {"sat": [["08:00", "12:00"]]}
    assert saved["holidays"] == ["2026-12-25"]
    assert saved["member_ids"] == [bruno_id]
    assert saved["timezone"] == "America/Sao_Paulo"
    assert saved["out_of_hours_message"] == "Voltamos amanhã às 8h."
    await screenshots(page, "departments")


async def test_a_queued_conversation_is_claimed_answered_and_transferred_with_a_note(
    browser: Any, page: Any, product: Product
) -> None:
    await add_attendant(product, "Ana", ANA_EMAIL, None)  # in "Atendimento", the default
    bruno_id = await add_attendant(product, "Bruno", BRUNO_EMAIL, [])
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await create_vendas(page, product, bruno_id)

    # The admin watches the team: Ana comes online when she signs in.
    await page.get_by_role("link", name="Equipe").click()
    await page.get_by_role("heading", name="Pessoas").wait_for()
    ana_row = page.locator('tr[data-member="Ana"]')
    await ana_row.wait_for()

    ana = await new_page(browser, product)
    bruno = await new_page(browser, product)
    try:
        await ana.goto("/inbox")
        await sign_in(ana, ANA_EMAIL, ADMIN_PASSWORD)
        await page.locator('tr[data-member="Ana"][data-presence="online"]').wait_for()
        # An attendant's tabs: hers, the queue, the bot; no "Todos". She starts on "Meus".
        tabs = ana.get_by_role("tablist", name="Conversas").get_by_role("tab")
        await tabs.last.wait_for()
        assert await tabs.all_inner_texts() == ["Meus", "Fila", "Bot"]
        assert await ana.get_by_role("tab", name="Meus").get_attribute("aria-selected") == "true"
        await ana.get_by_role("tab", name="Fila").click()
        await ana.wait_for_url("**/inbox?tab=queued")
        queue = ana.get_by_role("button", name="Fila de Atendimento")
        await queue.filter(has_text="0").wait_for()

        # A customer writes: the conversation waits in Atendimento's queue, shown live.
        await product.sim_post(
            f"/customers/{CUSTOMER}/messages",
            {"to": BUSINESS, "text": "Oi, quero comprar", "name": "Carla"},
        )
        row = ana.locator("[data-conversation]").filter(has_text="Carla")
        await row.wait_for()
        await queue.filter(has_text="1").wait_for()
        await queue.click()
        await ana.wait_for_url("**department=*")
        await screenshots(ana, "desk-queue")
        await row.click()
        chat = ana.get_by_test_id("chat")
        where = chat.get_by_test_id("chat-where")
        await where.get_by_text("Na fila").wait_for()
        await where.get_by_text("Atendimento").wait_for()
        await chat.locator(".system-line").filter(has_text="Na fila de Atendimento").wait_for()

        # Assumir: hers now, said in the header and as a line in the chat.
        await chat.get_by_role("button", name="Assumir").click()
        await where.get_by_text("Aberta").wait_for()
        await where.get_by_text("com você").wait_for()
        await chat.locator(".system-line").filter(has_text="Ana assumiu").wait_for()
        assert await chat.get_by_role("button", name="Assumir").count() == 0
        await chat.get_by_role("button", name="Pendente").wait_for()

        # She answers; the customer's phone shows it.
        composer = chat.get_by_role("textbox")
        await composer.fill("Olá, Carla! Sou a Ana.")
        await composer.press("Enter")
        await chat.locator('[data-direction="outbound"]').filter(has_text="Sou a Ana").wait_for()
        assert await eventually(lambda: customer_got(product, "Olá, Carla! Sou a Ana."))

        # Transferir to Vendas with a note for the team and a word to the customer.
        await chat.get_by_role("button", name="Transferir").click()
        dialog = ana.get_by_role("dialog", name="Transferir conversa")
        await dialog.get_by_role("combobox", name="Departamento").select_option(label="Vendas")
        await dialog.get_by_label("Nota interna").fill(NOTE)
        await dialog.get_by_label("Mensagem para o cliente").fill(TO_CUSTOMER)
        await screenshots(ana, "desk-transfer")
        await dialog.get_by_role("button", name="Transferir").click()
        await dialog.wait_for(state="detached")
        line = chat.locator(".system-line").filter(has_text="Transferida para Vendas por Ana")
        await line.filter(has_text=NOTE).wait_for()
        # Vendas' now, out of her sight: nothing more for her to do in it.
        await chat.get_by_text("Esta conversa foi para Vendas").wait_for()
        assert await chat.get_by_role("textbox").count() == 0
        assert await eventually(lambda: customer_got(product, TO_CUSTOMER))

        # Bruno, of Vendas only, finds it in Vendas' queue, with Ana's note on top.
        await bruno.goto("/inbox?tab=queued")
        await sign_in(bruno, BRUNO_EMAIL, ADMIN_PASSWORD)
        await page.locator('tr[data-member="Bruno"][data-presence="online"]').wait_for()
        vendas_queue = bruno.get_by_role("button", name="Fila de Vendas")
        await vendas_queue.filter(has_text="1").wait_for()
        assert await bruno.get_by_role("button", name="Fila de Atendimento").count() == 0
        await bruno.locator("[data-conversation]").filter(has_text="Carla").click()
        theirs = bruno.get_by_test_id("chat")
        await theirs.get_by_test_id("transfer-note").get_by_text(NOTE).wait_for()
        lines = theirs.locator(".system-line")
        await lines.filter(has_text="assumiu").wait_for()
        await lines.filter(has_text="Transferida para Vendas").wait_for()
        await theirs.get_by_text("Olá, Carla! Sou a Ana.").wait_for()
        await theirs.get_by_test_id("chat-where").get_by_text("Vendas").wait_for()
        await theirs.get_by_role("button", name="Assumir").click()
        await lines.filter(has_text="Bruno assumiu").wait_for()
        await screenshots(bruno, "desk-transferred")

        # Bruno steps away: the admin's team page shows it at once.
        await bruno.get_by_role("button", name="Bruno").click()
        await bruno.get_by_role("menuitemradio", name="Ausente").click()
        await page.locator('tr[data-member="Bruno"][data-presence="away"]').wait_for()
        # Its load follows the inbox: Bruno holds the conversation, Vendas' queue is empty.
        bruno_row = page.locator('tr[data-member="Bruno"]')
        await bruno_row.locator(".team-table__open").filter(has_text="1").wait_for()
        await page.locator('[data-queue="Vendas"]').get_by_text("0 na fila").wait_for()
        label = await bruno.get_by_role("button", name="Bruno").get_attribute("aria-label")
        assert label == "Bruno (Ausente)"
        await screenshots(page, "team")

        # Vendas holds an active conversation now: it cannot be deleted, and the page says so.
        await page.get_by_role("link", name="Departamentos").click()
        await page.get_by_role("button", name="Excluir Vendas").click()
        await (
            page.get_by_role("dialog", name="Excluir").get_by_role("button", name="Excluir").click()
        )
        await (
            page.get_by_role("alert")
            .filter(has_text="Vendas ainda tem 1 conversa ativa")
            .wait_for()
        )
    finally:
        await ana.context.close()
        await bruno.context.close()


async def test_a_late_read_answer_does_not_undo_a_claim(page: Any, product: Product) -> None:
    """Opening a conversation marks it read; that answer can reach the page after the claim
    made next (it waits for the gateway's receipt). The header keeps saying "com você"."""
    held: list[Any] = []
    answered: list[Any] = []
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        response = await route.fetch()  # read now, before the claim
        held.append(response)
        await release.wait()
        await route.fulfill(response=response)
        answered.append(response)

    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await page.route(lambda url: urlsplit(url).path.endswith("/read"), hold)
    await product.sim_post(
        f"/customers/{CUSTOMER}/messages",
        {"to": BUSINESS, "text": "Oi, quero comprar", "name": "Carla"},
    )
    await page.goto("/inbox?tab=queued")
    await page.locator("[data-conversation]").filter(has_text="Carla").click()
    assert await eventually(lambda: asyncio.sleep(0, held))
    assert (await held[0].json())["status"] == "queued"

    chat = page.get_by_test_id("chat")
    where = chat.get_by_test_id("chat-where")
    await chat.get_by_role("button", name="Assumir").click()
    await where.get_by_text("com você").wait_for()
    release.set()
    await eventually(lambda: asyncio.sleep(0, len(answered) == len(held)))
    # The page has read the late answer once a task and a frame have passed.
    await page.evaluate("() => new Promise(r => setTimeout(() => requestAnimationFrame(r)))")
    await where.get_by_text("com você").wait_for(timeout=1_000)
    assert await chat.get_by_role("button", name="Assumir").count() == 0


async def set_up_the_bot(page: Any) -> None:
    """Through the number's bot editor: the suggested menu (one option per department) made
    into "1 Vendas / 2 Financeiro", seen in the preview and tried in its simulator."""
    await page.locator("tr", has_text="Loja").get_by_role("button", name="Bot de Loja").click()
    await page.wait_for_url("**/numbers/*/bot")
    await page.get_by_role("heading", name="Bot de Loja").wait_for()
    await page.get_by_text("Este número ainda não tem bot").wait_for()

    def option(n: int) -> Any:
        return page.get_by_role("textbox", name=f"Opção {n}", exact=True)

    assert [await option(n).input_value() for n in (1, 2, 3)] == [
        "Atendimento",
        "Financeiro",
        "Vendas",
    ]
    await page.get_by_role("button", name="Remover opção 1").click()
    await page.get_by_role("button", name="Subir opção 2").click()
    assert [await option(n).input_value() for n in (1, 2)] == ["Vendas", "Financeiro"]
    assert await option(3).count() == 0
    destination = page.get_by_role("combobox", name="Destino da opção 2")
    assert await destination.locator("option:checked").inner_text() == "Financeiro"

    # Off, the preview says conversations go straight to the queue; on, what the customer
    # gets, as the server writes it.
    preview = page.get_by_test_id("bot-preview")
    await preview.get_by_text("Bot desligado → fila de Atendimento").wait_for()
    await page.get_by_role("switch", name="Bot ligado").check()
    said = preview.locator('[data-from="bot"]')
    menu_for_maria = f"Olá, Maria! 👋 Obrigado por falar com a gente.\n\n{MENU}"
    await said.first.filter(has_text="Olá, Maria!").wait_for()
    assert await said.first.inner_text() == menu_for_maria
    # Maria tries it: something not understood, then 2.
    reply = page.get_by_role("textbox", name="Responder como Maria")
    await reply.fill("x")
    await reply.press("Enter")
    await said.nth(1).filter(has_text=NOT_UNDERSTOOD).wait_for()
    assert await said.nth(1).inner_text() == f"{NOT_UNDERSTOOD}\n\n{MENU}"
    await reply.fill("2")
    await reply.press("Enter")
    await preview.locator('[data-from="queue"]').filter(has_text="→ fila de Financeiro").wait_for()
    await preview.get_by_text(ROUTED).wait_for()

    # A greeting longer than the server takes: its refusal shows under the greeting.
    greeting = page.get_by_role("textbox", name="Saudação")
    await greeting.fill("Olá! " * 401)
    await page.get_by_role("button", name="Salvar bot").click()
    await page.get_by_role("alert").filter(has_text="Longo demais: encurte o texto.").wait_for()
    assert await greeting.get_attribute("aria-invalid") == "true"
    await greeting.fill("Olá, {nome}! 👋 Obrigado por falar com a gente.")
    await page.get_by_label("Menu sem resposta").select_option(label="Encerra a conversa")
    await page.get_by_role("button", name="Salvar bot").click()
    await page.get_by_role("status").filter(has_text="Bot salvo.").wait_for()
    assert await page.get_by_text("Alterações não salvas").count() == 0
    await screenshots(page, "bot-editor")


async def test_the_bot_routes_to_financeiro_and_a_transfer_to_vendas_reaches_bruno_by_itself(
    browser: Any, page: Any, product: Product
) -> None:
    ana_id = await add_attendant(product, "Ana", ANA_EMAIL, [])
    bruno_id = await add_attendant(product, "Bruno", BRUNO_EMAIL, [])
    vendas = await create_department(product, "Vendas", [bruno_id], assignment="round_robin")
    financeiro = await create_department(product, "Financeiro", [ana_id])
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await set_up_the_bot(page)
    status, channels = await admin_call(product, "GET", "/channels")
    assert status == 200, channels
    channel_id = next(c["id"] for c in channels["items"] if c["name"] == "Loja")
    status, bot = await admin_call(product, "GET", f"/channels/{channel_id}/bot")
    assert status == 200, bot
    assert (bot["enabled"], bot["on_timeout"]) == (True, "close")
    assert bot["menu"]["options"] == [
        {"label": "Vendas", "department_id": vendas, "menu": None},
        {"label": "Financeiro", "department_id": financeiro, "menu": None},
    ]

    ana = await new_page(browser, product)
    bruno = await new_page(browser, product)
    try:
        await ana.goto("/inbox?tab=queued")
        await sign_in(ana, ANA_EMAIL, ADMIN_PASSWORD)
        financeiro_queue = ana.get_by_role("button", name="Fila de Financeiro")
        await financeiro_queue.filter(has_text="0").wait_for()
        await bruno.goto("/inbox?tab=bot")
        await sign_in(bruno, BRUNO_EMAIL, ADMIN_PASSWORD)
        await bruno.get_by_role("tab", name="Bot", selected=True).wait_for()

        async def both_online() -> bool:
            status, team = await admin_call(product, "GET", "/team")
            assert status == 200, team
            online = {m["id"] for m in team["items"] if m["status"] == "online"}
            return {ana_id, bruno_id} <= online

        assert await eventually(both_online)

        # The customer writes: the bot greets her and shows the menu.
        await product.sim_post(
            f"/customers/{CUSTOMER}/messages",
            {"to": BUSINESS, "text": "Oi, boa tarde", "name": "Carla"},
        )

        async def got_menu(times: int) -> bool:
            texts = await from_business(product)
            return sum(MENU in text for text in texts) == times

        assert await eventually(lambda: got_menu(1))
        assert any(GREETING in text for text in await from_business(product))
        # While the bot holds it, everyone sees it in *Bot*.
        held_by_bot = bruno.locator("[data-conversation]").filter(has_text="Carla")
        await held_by_bot.wait_for()

        # Not understood: the menu again.
        await product.sim_post(f"/customers/{CUSTOMER}/messages", {"to": BUSINESS, "text": "x"})
        assert await eventually(lambda: got_menu(2))
        assert any(NOT_UNDERSTOOD in text for text in await from_business(product))

        # 2: Financeiro's queue, Ana's; it leaves Bruno's sight.
        await product.sim_post(f"/customers/{CUSTOMER}/messages", {"to": BUSINESS, "text": "2"})
        row = ana.locator("[data-conversation]").filter(has_text="Carla")
        await row.wait_for()
        await financeiro_queue.filter(has_text="1").wait_for()
        await held_by_bot.wait_for(state="detached")
        await bruno.get_by_role("tab", name="Fila").click()
        await bruno.get_by_role("button", name="Fila de Vendas").wait_for()
        assert await bruno.get_by_role("button", name="Fila de Financeiro").count() == 0
        assert await bruno.locator("[data-conversation]").count() == 0
        assert await eventually(lambda: customer_got(product, ROUTED))
        await screenshots(ana, "bot-queue")

        # Ana claims it, answers, and transfers it to Vendas with a note.
        await row.click()
        chat = ana.get_by_test_id("chat")
        where = chat.get_by_test_id("chat-where")
        await where.get_by_text("Financeiro").wait_for()
        await chat.get_by_role("button", name="Assumir").click()
        await where.get_by_text("com você").wait_for()
        composer = chat.get_by_role("textbox")
        await composer.fill("Oi, Carla! Aqui é a Ana, do Financeiro.")
        await composer.press("Enter")
        assert await eventually(
            lambda: customer_got(product, "Oi, Carla! Aqui é a Ana, do Financeiro.")
        )
        await chat.get_by_role("button", name="Transferir").click()
        dialog = ana.get_by_role("dialog", name="Transferir conversa")
        await dialog.get_by_role("combobox", name="Departamento").select_option(label="Vendas")
        await dialog.get_by_label("Nota interna").fill(NOTE)
        await dialog.get_by_role("button", name="Transferir").click()
        await dialog.wait_for(state="detached")
        await (
            chat.locator(".system-line")
            .filter(has_text="Transferida para Vendas por Ana")
            .wait_for()
        )

        # Vendas hands it out by itself: Bruno, online, has it in *Meus* at once.
        await bruno.get_by_role("tab", name="Meus").click()
        mine = bruno.locator("[data-conversation]").filter(has_text="Carla")
        await mine.click()
        theirs = bruno.get_by_test_id("chat")
        await theirs.get_by_test_id("chat-where").get_by_text("com você").wait_for()
        note = theirs.get_by_test_id("transfer-note")
        await note.get_by_text(NOTE).wait_for()
        await note.get_by_text("Nota de Ana ao transferir").wait_for()
        lines = theirs.locator(".system-line")
        await lines.filter(has_text="Ana assumiu").wait_for()
        await lines.filter(has_text="Transferida para Vendas por Ana").wait_for()
        await lines.filter(has_text="Atribuída automaticamente a Bruno").wait_for()
        assert await lines.filter(has_text="alguém da equipe").count() == 0
        await theirs.get_by_text("Oi, Carla! Aqui é a Ana, do Financeiro.").wait_for()
        await screenshots(bruno, "bot-auto-assigned")

        # An admin makes Bruno a supervisor of both departments: his page follows at once
        # (the nav, the *Todos* tab), without a reload.
        body = {"role": "supervisor", "department_ids": [vendas, financeiro]}
        status, answer = await admin_call(product, "PATCH", f"/users/{bruno_id}", body)
        assert status == 200, answer
        nav = bruno.get_by_role("navigation", name="main")
        await nav.get_by_role("link", name="Equipe").wait_for()
        await bruno.get_by_role("tab", name="Todos").wait_for()
        await theirs.get_by_text("Oi, Carla! Aqui é a Ana, do Financeiro.").wait_for()
    finally:
        await ana.context.close()
        await bruno.context.close()
