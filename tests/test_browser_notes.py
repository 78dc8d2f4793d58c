"""Private notes and the bell in a real browser against the real product: Ana, holding Carla's
conversation, writes a private note mentioning Bruno through the composer's "@" picker; it
shows as a note card, never as a chat bubble, and Carla's phone never gets it (her phone gets
only the reply Ana sends after it). Bruno, in his own browser, sees his bell count 1 and the
tab's title say "(1) zapdesk", opens the bell, clicks the mention and lands in the
conversation, where the count goes back to 0. Then, by his preferences, a new conversation in
his queue pops up on his desktop with a chime, and none does in do-not-disturb. Screenshots
of the note card, the open bell and the preferences, at desktop and phone width."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core import keys
from core.storage.models import User
from tests.browser_world import (
    ADMIN_PASSWORD,
    BUSINESS,
    CUSTOMER,
    Product,
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
from tests.test_browser_desk import add_attendant
from tests.test_browser_inbox import SPY_ON_NOTIFICATIONS

__all__ = ["browser", "page", "product"]  # fixtures

pytestmark = pytest.mark.timeout(150)

ANA_EMAIL = "ana@empresa.com.br"
BRUNO_EMAIL = "bruno@empresa.com.br"
NOTE = "Troca aprovada, @Bruno confere o estoque do tamanho M?"
REPLY = "Pode mandar o pedido de volta, Carla. A troca está aprovada!"
DUDA = "5511977776666"
ELISA = "5511966665555"
SWITCHES = (
    "Nova conversa na minha fila",
    "Atribuída a mim",
    "Transferida para mim",
    "Menção em nota",
    "SLA em risco",
    "Notificação na área de trabalho",
    "Som",
)


async def test_a_note_stays_with_the_team_and_a_mention_rings_the_colleagues_bell(
    browser: Any, page: Any, product: Product
) -> None:
    await add_attendant(product, "Ana", ANA_EMAIL, None)  # both in "Atendimento"
    await add_attendant(product, "Bruno", BRUNO_EMAIL, None)
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await product.sim_post(
        f"/customers/{CUSTOMER}/messages",
        {"to": BUSINESS, "text": "Oi, quero trocar o tamanho", "name": "Carla"},
    )

    ana = await new_page(browser, product)
    bruno = await new_page(browser, product)
    try:
        await bruno.goto("/inbox")
        await sign_in(bruno, BRUNO_EMAIL, ADMIN_PASSWORD)
        bell = bruno.get_by_test_id("bell")
        await bell.wait_for()
        assert await bruno.title() == "zapdesk"
        assert await bruno.get_by_test_id("bell-count").count() == 0

        # Ana takes Carla's conversation from the queue.
        await ana.goto("/inbox?tab=queued")
        await sign_in(ana, ANA_EMAIL, ADMIN_PASSWORD)
        await ana.locator("[data-conversation]").filter(has_text="Carla").click()
        chat = ana.get_by_test_id("chat")
        await chat.get_by_text("Oi, quero trocar o tamanho").wait_for()
        await chat.get_by_role("button", name="Assumir").click()
        await chat.get_by_test_id("chat-where").get_by_text("com você").wait_for()
        conversation_id = int(ana.url.rsplit("/", 1)[-1].split("?")[0])

        # A private note: its own mode, "@" brings the colleagues who may see the conversation.
        composer = chat.get_by_test_id("composer")
        await composer.get_by_role("button", name="Nota privada").click()
        assert await composer.get_attribute("class") == "composer composer--note"
        box = composer.get_by_role("textbox", name="Só a equipe vê esta nota")
        assert await composer.get_by_role("button", name="Anexar arquivo").count() == 0
        await box.fill("Troca aprovada, ")
        await box.press_sequentially("@Bru")
        picker = composer.get_by_role("listbox", name="Mencionar colega")
        await picker.get_by_role("option", name="@Bruno").wait_for()
        assert await picker.get_by_role("option").all_inner_texts() == ["@Bruno"]
        await box.press("Enter")
        await picker.wait_for(state="detached")
        assert await box.input_value() == "Troca aprovada, @Bruno "
        await box.press_sequentially("confere o estoque do tamanho M?")
        await box.press("Enter")

        card = chat.get_by_test_id("note-card").filter(has_text="confere o estoque")
        await card.wait_for()
        await card.get_by_text("Nota privada · Ana").wait_for()
        assert await card.locator(".note-card__text").inner_text() == NOTE
        assert await card.locator("mark").all_inner_texts() == ["@Bruno"]
        assert await chat.locator(".bubble").filter(has_text="confere o estoque").count() == 0
        await screenshots(ana, "note-card")

        # Back to replying: the customer's phone gets the reply, and only the reply.
        await composer.get_by_role("button", name="Responder").click()
        reply_box = composer.get_by_role("textbox", name="Escreva uma mensagem")
        await reply_box.fill(REPLY)
        await reply_box.press("Enter")
        assert await eventually(lambda: phone_got(product, REPLY))
        assert await from_business(product, CUSTOMER) == [REPLY]
        seen = await product.sim_get(f"/customers/{CUSTOMER}/messages?to={BUSINESS}")
        assert "estoque" not in str(seen)

        # Bruno's bell rings: the count, the tab's title; the mention opens the conversation.
        await bruno.get_by_test_id("bell-count").filter(has_text="1").wait_for()
        assert await eventually(lambda: titled(bruno, "(1) zapdesk"))
        await bell.click()
        panel = bruno.get_by_role("dialog", name="Notificações")
        item = panel.locator(".bell__item.is-unread")
        await item.filter(has_text="Ana mencionou você em uma nota · Carla").wait_for()
        await item.filter(has_text="Troca aprovada, @Bruno confere o estoque").wait_for()
        await screenshots(bruno, "bell-open")
        await item.click()
        await bruno.wait_for_url(f"**/inbox/{conversation_id}")
        bruno_chat = bruno.get_by_test_id("chat")
        await bruno_chat.get_by_test_id("note-card").filter(has_text="confere o estoque").wait_for()
        await bruno.get_by_test_id("bell-count").wait_for(state="detached")
        assert await eventually(lambda: titled(bruno, "zapdesk"))
        await bell.click()
        await panel.locator(".bell__item").first.wait_for()
        assert await panel.locator(".bell__item.is-unread").count() == 0

        # A new conversation in Bruno's queue pops up and chimes, as his preferences say; in
        # do-not-disturb nothing does (a spy records the page's notifications and sounds).
        await bruno.context.grant_permissions(["notifications"], origin=product.url)
        await bruno.context.add_init_script(SPY_ON_NOTIFICATIONS)
        await bruno.goto("/inbox?tab=queued")
        prefs = await open_preferences(bruno)
        for name in SWITCHES:
            assert await prefs.get_by_role("switch", name=name).is_checked(), name
        assert not await prefs.get_by_role("switch", name="Não perturbe").is_checked()
        await screenshots(bruno, "notification-prefs")
        await bruno.keyboard.press("Escape")
        await writes(product, DUDA, "Boa tarde, e o meu pedido?", "Duda")
        told = await eventually(lambda: bruno.evaluate("window.__notifications"))
        assert told == [
            {"title": "Nova conversa na fila: Duda", "body": "Boa tarde, e o meu pedido?"}
        ]
        assert await eventually(lambda: bruno.evaluate("window.__sounds")) == 1

        prefs = await open_preferences(bruno)
        await prefs.get_by_role("switch", name="Não perturbe").check()
        assert await eventually(lambda: dnd_saved(product, BRUNO_EMAIL))
        await bruno.keyboard.press("Escape")
        await writes(product, ELISA, "Oi, alguém aí?", "Elisa")
        await bruno.locator("[data-conversation]").filter(has_text="Elisa").wait_for()
        assert len(await bruno.evaluate("window.__notifications")) == 1
        assert await bruno.evaluate("window.__sounds") == 1
    finally:
        await ana.context.close()
        await bruno.context.close()


async def open_preferences(page: Any) -> Any:
    await page.get_by_test_id("bell").click()
    panel = page.get_by_role("dialog", name="Notificações")
    await panel.get_by_role("button", name="Preferências de notificação").click()
    prefs = page.get_by_role("dialog", name="Preferências de notificação")
    await prefs.wait_for()
    return prefs


async def writes(product: Product, customer: str, text: str, name: str) -> None:
    body = {"to": BUSINESS, "text": text, "name": name}
    await product.sim_post(f"/customers/{customer}/messages", body)


async def dnd_saved(product: Product, email: str) -> bool:
    async with product.core.app[keys.SESSIONS]() as db:
        stored = await db.scalar(select(User.preferences).where(User.email == email))
    return bool(stored and stored.get("dnd"))


async def phone_got(product: Product, text: str) -> bool:
    return text in await from_business(product, CUSTOMER)


async def titled(page: Any, title: str) -> bool:
    return bool(await page.title() == title)
