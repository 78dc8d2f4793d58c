"""The rest of the inbox in a real browser against the real product: filters kept in the URL
("Não lidas", the number a conversation came in on) that narrow the list and hold live
updates to what they match; sound and desktop notifications for a customer writing in
another conversation (never for the one on screen); the composer's emoji picker, whose emoji
reaches the customer's phone. Screenshots, desktop and phone width, like the others."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from core import keys
from core.storage.models import Conversation
from tests.browser_world import (
    ADMIN_PASSWORD,
    BUSINESS,
    CUSTOMER,
    SECOND_BUSINESS,
    Product,
    browser,
    eventually,
    link_number,
    new_page,
    page,
    product,
    screenshots,
    sign_in,
)

__all__ = ["browser", "page", "product"]  # fixtures

pytestmark = pytest.mark.timeout(150)

OTHER_CUSTOMER = "5511977770000"

# Records each desktop notification the page creates (the real one is shown too, if it can be)
# and each sound it starts.
SPY_ON_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  window.__sounds = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__sounds += 1;
    return start.apply(this, args);
  };
  function Spy(title, options) {
    window.__notifications.push({ title, body: (options && options.body) || "" });
    try { return new Real(title, options); } catch { return { close() {}, onclick: null }; }
  }
  Object.defineProperty(Spy, "permission", { get: () => Real.permission });
  Spy.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Spy;
})();
"""


async def link_two_numbers(page: Any, product: Product) -> None:
    """Links "Loja" (BUSINESS) by its QR and "Filial" (SECOND_BUSINESS) by a pairing code."""
    add = page.get_by_role("button", name="Adicionar número")
    dialog = page.get_by_role("dialog", name="Adicionar número")
    await add.click()
    await dialog.get_by_label("Nome do número").fill("Loja")
    await dialog.get_by_role("button", name="Gerar QR").click()
    await dialog.get_by_role("img", name="QR code para conectar o WhatsApp").wait_for()
    shown = dialog.locator("[data-code]")
    code = await eventually(lambda: shown.get_attribute("data-code"))
    await product.sim_post(f"/phones/{BUSINESS}/scan", {"code": code, "name": "Loja"})
    await page.get_by_role("status").filter(has_text="Número Loja conectado").wait_for()

    await add.click()
    await dialog.get_by_label("Nome do número").fill("Filial")
    await dialog.get_by_role("button", name="Gerar QR").click()
    await dialog.get_by_role("button", name="Conectar com número de telefone").click()
    await dialog.get_by_label("Telefone").fill(SECOND_BUSINESS)
    await dialog.get_by_role("button", name="Gerar código").click()
    pair_code = await dialog.get_by_test_id("pair-code").inner_text()
    await product.sim_post(f"/phones/{SECOND_BUSINESS}/pair-code", {"code": pair_code})
    await page.get_by_role("status").filter(has_text="Número Filial conectado").wait_for()


async def customer_writes(product: Product, customer: str, to: str, text: str, name: str) -> None:
    await product.sim_post(
        f"/customers/{customer}/messages", {"to": to, "text": text, "name": name}
    )


async def stored(product: Product, preview: str) -> bool:
    """Core has taken the message in (its conversation shows it as the last one)."""
    async with product.core.app[keys.SESSIONS]() as db:
        found = await db.scalar(
            select(Conversation.id).where(Conversation.last_message_preview == preview)
        )
    return found is not None


async def visible_rows(page: Any) -> int:
    return int(await page.evaluate("document.querySelectorAll('[data-conversation]').length"))


async def test_filters_notifications_and_emoji_in_the_inbox(page: Any, product: Product) -> None:
    await page.goto("/numbers")
    await sign_in(page)
    await page.get_by_role("heading", name="Números").wait_for()
    await link_two_numbers(page, product)

    # Two customers, one per number: both conversations come in live.
    await page.get_by_role("link", name="Atendimento").click()
    await customer_writes(product, CUSTOMER, BUSINESS, "Oi, sou a Ana", "Ana")
    await customer_writes(product, OTHER_CUSTOMER, SECOND_BUSINESS, "Oi, sou o Bruno", "Bruno")
    rows = page.locator("[data-conversation]")
    ana, bruno = rows.filter(has_text="Ana"), rows.filter(has_text="Bruno")
    await ana.wait_for()
    await bruno.wait_for()

    # Reading Ana's leaves only Bruno's unread: "Não lidas" shows just that one.
    await ana.click()
    await page.get_by_test_id("chat").get_by_text("Oi, sou a Ana").wait_for()
    await ana.locator(".unread").wait_for(state="detached")
    await page.get_by_role("link", name="Atendimento").click()
    await page.get_by_text("Escolha uma conversa para começar.").wait_for()
    unread_only = page.get_by_role("button", name="Não lidas")
    await unread_only.click()
    await ana.wait_for(state="detached")
    await bruno.wait_for()
    assert "unread=1" in page.url
    # A reload keeps the filter (it is in the URL), and the list it narrows.
    await page.reload()
    await bruno.wait_for()
    assert await visible_rows(page) == 1
    assert await unread_only.get_attribute("aria-pressed") == "true"
    # Ana writes again: her conversation matches now, and joins the list live.
    await customer_writes(product, CUSTOMER, BUSINESS, "Ana voltou", "Ana")
    await ana.filter(has_text="Ana voltou").wait_for()
    assert await visible_rows(page) == 2
    await unread_only.click()
    assert "unread=1" not in page.url

    # The number filter: only the conversations that came in on "Loja".
    channel = page.get_by_role("combobox", name="Número")
    await channel.select_option(label=f"Loja (+{BUSINESS})")
    await bruno.wait_for(state="detached")
    await ana.wait_for()
    assert "channel=" in page.url
    await page.reload()
    await ana.wait_for()
    assert await visible_rows(page) == 1
    assert await channel.evaluate("el => el.selectedOptions[0].text") == f"Loja (+{BUSINESS})"

    # Bruno writes on "Filial": filtered out, his conversation stays away, even after a later
    # message on "Loja" shows up live.
    await customer_writes(product, OTHER_CUSTOMER, SECOND_BUSINESS, "Bruno de novo", "Bruno")
    await eventually(lambda: stored(product, "Bruno de novo"))
    await customer_writes(product, CUSTOMER, BUSINESS, "Ana de novo", "Ana")
    await ana.filter(has_text="Ana de novo").wait_for()
    assert await bruno.count() == 0
    assert await visible_rows(page) == 1
    await screenshots(page, "inbox-filters")

    # Every number again: Bruno's conversation is back, with his latest message.
    await channel.select_option(label="Todos os números")
    await bruno.filter(has_text="Bruno de novo").wait_for()
    assert "channel=" not in page.url

    # Nobody took either conversation yet: none is "mine", both are "unassigned".
    assignee = page.get_by_role("combobox", name="Responsável")
    await assignee.select_option(label="Minhas")
    await page.get_by_text("Nenhuma conversa aqui.").wait_for()
    assert "assignee=me" in page.url
    await assignee.select_option(label="Sem responsável")
    await ana.wait_for()
    await bruno.wait_for()
    await page.get_by_role("button", name="Limpar filtros").click()
    await page.wait_for_url(lambda url: "?" not in url)

    # Sound and notifications, with the browser's permission granted; each notification the
    # page creates is recorded.
    await page.context.grant_permissions(["notifications"], origin=product.url)
    await page.context.add_init_script(SPY_ON_NOTIFICATIONS)
    await page.reload()
    await ana.click()
    chat = page.get_by_test_id("chat")
    await chat.get_by_text("Ana de novo").wait_for()
    alerts = page.get_by_role("button", name="Som e notificações")
    assert await alerts.get_attribute("aria-pressed") == "false"
    await alerts.click()
    assert await page.evaluate("Notification.permission") == "granted"
    assert await alerts.get_attribute("aria-pressed") == "true"

    # A message in the open conversation: shown, no notification. One in another: notified.
    await customer_writes(product, CUSTOMER, BUSINESS, "Ana aqui", "Ana")
    await chat.get_by_text("Ana aqui").wait_for()
    await customer_writes(product, OTHER_CUSTOMER, SECOND_BUSINESS, "Bruno aqui", "Bruno")
    notes = await eventually(lambda: page.evaluate("window.__notifications"))
    assert notes == [{"title": "Nova mensagem de Bruno", "body": "Bruno aqui"}]
    assert await eventually(lambda: page.evaluate("window.__sounds")) == 1
    # Our own reply in another conversation (sent from elsewhere) is no customer's message.
    async with product.core.app[keys.SESSIONS]() as db:
        bruno_id = await db.scalar(
            select(Conversation.id).where(Conversation.last_message_preview == "Bruno aqui")
        )
    assert bruno_id is not None
    await product.send_as_admin(bruno_id, "Já te respondo, Bruno")
    await bruno.filter(has_text="Já te respondo, Bruno").wait_for()
    assert len(await page.evaluate("window.__notifications")) == 1
    assert await page.evaluate("window.__sounds") == 1
    # The setting is remembered by this browser.
    await page.reload()
    assert await alerts.get_attribute("aria-pressed") == "true"

    # Emoji: the picker opens from the keyboard, Esc closes it (focus back on its button);
    # the emoji picked goes in at the caret, and the customer receives it.
    composer = chat.get_by_role("textbox")
    await composer.fill("Olá !")
    await composer.evaluate("el => el.setSelectionRange(4, 4)")
    picker_button = chat.get_by_role("button", name="Inserir emoji")
    picker = page.get_by_role("dialog", name="Emojis")
    await picker_button.click()
    await picker.wait_for()
    assert await picker.get_by_role("button").count() >= 50
    await page.keyboard.press("Escape")
    await picker.wait_for(state="detached")
    assert await picker_button.evaluate("el => el === document.activeElement")
    await page.keyboard.press("Enter")
    await picker.wait_for()
    await page.keyboard.press("ArrowRight")
    assert await picker.get_by_role("button", name="😁").evaluate(
        "el => el === document.activeElement"
    )
    await screenshots(page, "inbox-emoji")
    await page.keyboard.press("Enter")
    await picker.wait_for(state="detached")
    assert await composer.input_value() == "Olá 😁!"
    await composer.press("Enter")
    await chat.locator('[data-direction="outbound"]').filter(has_text="Olá 😁!").wait_for()

    async def received() -> Any:
        view = await product.sim_get(f"/customers/{CUSTOMER}/messages?to={BUSINESS}")
        return [m for m in view["messages"] if m.get("text") == "Olá 😁!"]

    assert await eventually(received)


async def test_an_attendant_filters_by_mine_or_unassigned_only(
    browser: Any, product: Product
) -> None:
    # Only admins may list users: an attendant picks by tab instead, hers ("Meus") or the
    # unassigned ("Fila", "Bot"), and is offered no names.
    await product.add_user("attendant", "carla@empresa.com.br")
    page = await new_page(browser, product)
    try:
        asked_for_users: list[str] = []
        page.on(
            "requestfinished",
            lambda r: asked_for_users.append(r.url) if "/users" in r.url else None,
        )
        await page.goto("/inbox")
        await sign_in(page, "carla@empresa.com.br", ADMIN_PASSWORD)
        tabs = page.get_by_role("tablist", name="Conversas").get_by_role("tab")
        await tabs.last.wait_for()
        assert await tabs.all_inner_texts() == ["Meus", "Fila", "Bot"]
        await page.get_by_role("combobox", name="Número").wait_for()
        assert await page.get_by_role("combobox", name="Responsável").count() == 0
        assert asked_for_users == []
    finally:
        await page.context.close()


async def test_a_conversation_that_starts_before_the_inbox_is_live_still_shows(
    page: Any, product: Product
) -> None:
    """The list is loaded, then followed live; what starts in between (the list already read,
    core not yet following "inbox" for this socket) shows once core confirms the subscription.
    Here the page's subscribe to "inbox" is held until the customer's conversation exists."""
    hold = False
    held: list[tuple[Any, str]] = []

    def relay(browser_side: Any) -> None:
        core_side = browser_side.connect_to_server()

        def outgoing(message: str | bytes) -> None:
            topics = json.loads(message).get("topics", []) if isinstance(message, str) else []
            if hold and "inbox" in topics:
                held.append((core_side, message))
            else:
                core_side.send(message)

        browser_side.on_message(outgoing)

    await page.route_web_socket("**/api/v1/ws**", relay)
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")

    hold = True
    await page.get_by_role("link", name="Atendimento").click()
    await page.get_by_text("Nenhuma conversa aqui.").wait_for()
    await eventually(lambda: asyncio.sleep(0, held))
    await customer_writes(product, CUSTOMER, BUSINESS, "Oi, cheguei agora", "Ana")
    await eventually(lambda: stored(product, "Oi, cheguei agora"))
    assert await visible_rows(page) == 0  # the list was read before; nothing live yet

    core_side, subscribe = held.pop()
    core_side.send(subscribe)
    await page.locator("[data-conversation]").filter(has_text="Ana").wait_for(timeout=10_000)


async def test_a_list_answer_older_than_a_notice_does_not_take_the_conversation_away(
    page: Any, product: Product
) -> None:
    """The list is read (empty), a customer writes, the notice shows her conversation, and only
    then does the list's answer reach the page (a busy browser may read a fetch's body after a
    websocket frame that came later). The row stays."""
    held: list[Any] = []
    answered: list[Any] = []
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        if release.is_set():
            await route.continue_()
            return
        response = await route.fetch()  # read now, before the customer writes
        held.append(response)
        await release.wait()
        await route.fulfill(response=response)
        answered.append(response)

    def the_list(url: str) -> bool:
        return urlsplit(url).path == "/api/v1/conversations"

    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await page.route(the_list, hold)
    await page.get_by_role("link", name="Atendimento").click()
    await eventually(lambda: asyncio.sleep(0, held))

    await customer_writes(product, CUSTOMER, BUSINESS, "Oi, cheguei agora", "Ana")
    row = page.locator("[data-conversation]").filter(has_text="Ana")
    await row.wait_for(timeout=10_000)
    assert [(await response.json())["items"] for response in held] == [[]] * len(held)

    release.set()
    await eventually(lambda: asyncio.sleep(0, len(answered) == len(held)))
    # The page has read every late answer once a task and a frame have passed.
    await page.evaluate("() => new Promise(r => setTimeout(() => requestAnimationFrame(r)))")
    assert await row.count() == 1
